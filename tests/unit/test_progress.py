from utils.progress import ProgressEstimate, format_seconds

from tests.clock import ManualClock


def test_elapsed_rate_and_time_left():
    clock, seen = ManualClock(), []
    estimate = ProgressEstimate(lambda d, t, n: seen.append(n), "tiles", clock)
    clock.now = 102.0
    estimate(1, 9, "tile 1/9")  # the first report: start-up costs are not counted in the rate
    clock.now = 106.0
    estimate(3, 9, "tile 3/9")
    assert seen[0] == "tile 1/9 · 2 s elapsed"
    assert seen[1] == "tile 3/9 · 6 s elapsed, 0.50 tiles/s, about 12 s left"


def test_slow_jobs_show_seconds_per_item():
    clock, seen = ManualClock(), []
    estimate = ProgressEstimate(lambda d, t, n: seen.append(n), "frames", clock)
    estimate(0, 3, "start")
    clock.now += 30
    estimate(1, 3, "frame 1/3")
    assert seen[-1].endswith("30.0 s per frame, about 1 min 00 s left")


def test_format_seconds():
    assert [format_seconds(s) for s in (5, 75, 3725)] == ["5 s", "1 min 15 s", "1 h 02 min"]
