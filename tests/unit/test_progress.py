from utils.progress import EXPECTED_CAP, ProgressEstimate, ProgressNote, format_seconds, with_prefix

from tests.clock import ManualClock


def test_elapsed_rate_and_time_left():
    clock, seen = ManualClock(), []
    estimate = ProgressEstimate(lambda d, t, n: seen.append(n), "tiles", clock)
    clock.now = 102.0
    estimate(1, 9, "tile 1/9")  # the first report: start-up costs are not counted in the rate
    clock.now = 106.0
    estimate(3, 9, "tile 3/9")
    assert seen[0] == "tile 1/9 · 2 s elapsed, estimating…"  # no rate yet and no measured speed
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


def test_one_unit_with_a_measured_speed_shows_time_left_and_a_bar_by_the_clock():
    clock, seen = ManualClock(), []
    estimate = ProgressEstimate(lambda d, t, n: seen.append((d, n)), "tiles", clock)
    estimate(0, 1, "loading the model")  # no expectation yet
    clock.now += 5  # the load took 5 s: not part of the tile's estimate
    note = ProgressNote("tile 1/1", expected_s=40.0)  # e.g. 0.25 MP at a measured 160 s per megapixel
    estimate(0, 1, note)
    clock.now += 10
    estimate(0, 1, note)  # the engine's heartbeat while the tile runs
    assert seen[0] == (0, "loading the model · 0 s elapsed, estimating…")
    assert seen[1] == (0.0, "tile 1/1 · 5 s elapsed, about 40 s left")
    assert seen[2] == (0.25, "tile 1/1 · 15 s elapsed, about 30 s left")  # 10 s of 40: a quarter
    clock.now += 60  # slower than measured: the bar stops short of done, the text does not count below zero
    estimate(0, 1, note)
    assert seen[3] == (EXPECTED_CAP, "tile 1/1 · 1 min 15 s elapsed, almost done")
    estimate(1, 1, note)  # done: the real count again
    assert seen[4][0] == 1


def test_without_a_measured_speed_a_single_tile_says_estimating():
    clock, seen = ManualClock(), []
    estimate = ProgressEstimate(lambda d, t, n: seen.append((d, n)), "tiles", clock)
    estimate(0, 1, ProgressNote("tile 1/1", expected_s=None))
    clock.now += 20
    estimate(0, 1, ProgressNote("tile 1/1", expected_s=None))
    assert seen[-1] == (0, "tile 1/1 · 20 s elapsed, estimating…")
    assert "left" not in seen[-1][1]


def test_several_tiles_keep_the_per_tile_rate_once_one_has_finished():
    clock, seen = ManualClock(), []
    estimate = ProgressEstimate(lambda d, t, n: seen.append((d, n)), "tiles", clock)
    estimate(0, 4, ProgressNote("tile 1/4", expected_s=100.0))
    clock.now += 10
    estimate(0, 4, ProgressNote("tile 1/4", expected_s=100.0))  # before the first tile: by the clock
    assert seen[-1] == (0.4, "tile 1/4 · 10 s elapsed, about 1 min 30 s left")
    clock.now += 10
    estimate(1, 4, ProgressNote("tile 2/4", expected_s=100.0))  # 20 s per tile measured: that rules now
    assert seen[-1] == (1, "tile 2/4 · 20 s elapsed, 20.0 s per tile, about 1 min 00 s left")


def test_a_prefix_keeps_the_expectation():
    note = with_prefix("RealESRGAN_x4plus, pass 1/2", ProgressNote("tile 1/1", 12.0))
    assert note == "RealESRGAN_x4plus, pass 1/2: tile 1/1" and note.expected_s == 12.0
    assert with_prefix("", "tile 1/1") == "tile 1/1" and with_prefix("a", "b") == "a: b"


def test_a_second_stage_with_the_same_expectation_starts_its_own_clock():
    clock, seen = ManualClock(), []
    estimate = ProgressEstimate(lambda d, t, n: seen.append((d, n)), "tiles", clock)
    note = ProgressNote("tile 1/1", expected_s=10.0)
    estimate(0, 1, note)
    clock.now += 8
    estimate(1, 1, note)  # the first model's pass is done
    estimate(0, 1, note)  # a second model of the same speed on the same image starts
    clock.now += 2
    estimate(0, 1, note)
    assert seen[-1][0] == 0.2 and seen[-1][1].endswith("about 8 s left")
