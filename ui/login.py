"""Password check for the web UI's login, with failed attempts slowed down.

Gradio's built-in auth answers a wrong password at once and without limit. Here each user name
(all unknown names share one) has a failure count: after a failure the answer waits `delay_for(count)` seconds (1, 2, 4,
... up to 30), and attempts for one name are answered one at a time, so guessing in parallel is no
faster. The wait is asynchronous: it holds no server thread. A success resets the count; counts
also fade after a quiet `FORGET_AFTER_S`.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

log = logging.getLogger(__name__)

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0
FORGET_AFTER_S = 15 * 60
UNKNOWN = "\x00unknown"  # one shared slot for every name that is not the configured one


def delay_for(failures: int, first_delay_s: float = FIRST_DELAY_S) -> float:
    """Seconds to wait before answering the `failures`-th failure in a row (1-based)."""
    return 0.0 if failures <= 0 else min(MAX_DELAY_S, first_delay_s * 2 ** (failures - 1))


class LoginThrottle:
    def __init__(self, users: Iterable[tuple[str, str]], *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, clock: Callable[[], float] = time.monotonic,
                 first_delay_s: float = FIRST_DELAY_S):
        self.passwords = dict(users)
        self.first_delay_s = first_delay_s
        self.sleep, self.clock = sleep, clock
        self.failures: dict[str, tuple[int, float]] = {}
        self.locks: dict[str, asyncio.Lock] = {}

    async def check(self, username: str, password: str) -> bool:
        """Gradio's auth callable (a coroutine function, so Gradio awaits it)."""
        slot = username if username in self.passwords else UNKNOWN
        lock = self.locks.setdefault(slot, asyncio.Lock())
        async with lock:
            expected = self.passwords.get(username, "\x00 never matches")
            if hmac.compare_digest(password.encode("utf-8"), expected.encode("utf-8")) and slot != UNKNOWN:
                self.failures.pop(slot, None)
                return True
            count, last = self.failures.get(slot, (0, 0.0))
            if self.clock() - last > FORGET_AFTER_S:
                count = 0
            count += 1
            self.failures[slot] = (count, self.clock())
            wait = delay_for(count, self.first_delay_s)
            log.warning("failed login for %r (%d in a row); answering in %.0f s", username[:64], count, wait)
            await self.sleep(wait)
            return False
