"""The stop check every job carries (cancel, client gone, time limit) and the login throttle."""
import asyncio

import numpy as np
import pytest

from engine.jobs.job_control import ClientGone, JobControl, TimeLimitExceeded
from engine.jobs.image import enhance_image_direct
from ui.login import FORGET_AFTER_S, MAX_DELAY_S, LoginThrottle, client_address, delay_for
from utils.errors import Cancelled

from tests.clock import ManualClock



def test_cancel_then_client_gone_then_time_limit():
    clock, flags = ManualClock(1000.0), {"cancel": False, "gone": False}
    control = JobControl(cancelled=lambda: flags["cancel"], client_gone=lambda: flags["gone"], time_limit_s=60,
                         clock=clock)
    assert control() is False
    clock.now += 61
    with pytest.raises(TimeLimitExceeded, match="1-minute limit"):
        control()
    flags["gone"] = True
    with pytest.raises(ClientGone, match="disconnected"):
        control()
    flags["cancel"] = True
    assert control() is True
    assert issubclass(ClientGone, Cancelled)  # history records it as cancelled
    assert JobControl(time_limit_s=0, clock=clock)() is False  # 0: no limit


def test_the_time_limit_stops_an_image_between_tiles_and_writes_nothing(manager, tmp_path):
    clock = ManualClock(1000.0)

    def tick():
        clock.now += 40  # each check: 40 "seconds" later
        return clock.now
    control = JobControl(time_limit_s=100, clock=tick)
    pixels = np.random.default_rng(1).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    with pytest.raises(TimeLimitExceeded):
        enhance_image_direct(pixels, "realesr-animevideov3", 2, model_manager=manager, output_dir=tmp_path, tile=32,
                             should_cancel=control)
    assert list(tmp_path.iterdir()) == []


def run(coroutine):
    return asyncio.run(coroutine)


def test_failed_logins_wait_longer_each_time_and_a_success_resets():
    waits = []

    async def sleep(seconds):
        waits.append(seconds)
    throttle = LoginThrottle([("ann", "right"), ("bob", "other")], sleep=sleep, clock=ManualClock(1000.0))
    assert [run(throttle.check("ann", "wrong")) for _ in range(3)] == [False, False, False]
    assert waits == [1.0, 2.0, 4.0]
    assert run(throttle.check("ann", "right")) is True and waits == [1.0, 2.0, 4.0]
    assert run(throttle.check("ann", "wrong")) is False and waits[-1] == 1.0
    assert run(throttle.check("bob", "right")) is False  # another user's password is not yours
    assert run(throttle.check("nobody", "right")) is False and run(throttle.check("", "")) is False
    assert delay_for(50) == MAX_DELAY_S


def test_parallel_guesses_for_one_user_are_answered_one_at_a_time():
    async def scenario():
        throttle = LoginThrottle([("ann", "right")], first_delay_s=0.05)
        started = asyncio.get_running_loop().time()
        results = await asyncio.gather(*(throttle.check("ann", f"guess{i}") for i in range(3)))
        return results, asyncio.get_running_loop().time() - started
    results, seconds = run(scenario())
    assert results == [False] * 3
    assert seconds >= 0.05 + 0.1 + 0.2  # serialised: the delays add up instead of overlapping


def test_quiet_clients_are_forgotten_so_new_addresses_cannot_grow_memory():
    async def no_wait(seconds):
        pass
    clock = ManualClock(1000.0)
    throttle = LoginThrottle([("ann", "right")], sleep=no_wait, clock=clock)

    async def guess_from(address, password="wrong"):
        client_address.set(address)
        return await throttle.check("ann", password)
    for i in range(500):  # one guess each from 500 addresses
        assert run(guess_from(f"10.0.{i // 250}.{i % 250}")) is False
    assert len(throttle.failures) == len(throttle.locks) == 500
    clock.now += FORGET_AFTER_S / 2
    assert run(guess_from("10.9.9.9")) is False  # still remembered: nothing has faded yet
    assert len(throttle.failures) == 501
    clock.now += FORGET_AFTER_S / 2 + 1
    assert run(guess_from("10.9.9.9", "right")) is True
    assert throttle.failures == {} and list(throttle.locks) == ["10.9.9.9"]  # only the recent one is left
    assert run(guess_from("10.0.0.1")) is False and throttle.failures["10.0.0.1"][0] == 1  # counts from 1 again
