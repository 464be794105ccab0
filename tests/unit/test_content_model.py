"""The content classifier's fit (bench/content_model.py): sources never leak into their own
validation, the calibration is honest, copies of one picture are one source."""
import numpy as np

from bench.content_model import COLOUR_FEATURES, Sample, calibrate, fit_views, group_of, mean_score, out_of_source_scores


def copies(group: str, anime: bool, value: float, rng: np.random.Generator, n: int = 4) -> list[Sample]:
    """`n` copies of one source whose every feature is near `value` (5 views each)."""
    return [Sample(f"{group}#{i}", group, anime, 1.0, i == 0,
                   value + rng.normal(0, 0.05, (5, len(COLOUR_FEATURES)))) for i in range(n)]


def test_a_source_is_judged_by_a_model_that_never_saw_it():
    rng = np.random.default_rng(0)
    samples = [s for g in range(4) for s in copies(f"anime{g}", True, 1.0 + 0.1 * g, rng)]
    samples += [s for g in range(4) for s in copies(f"photo{g}", False, -1.0 - 0.1 * g, rng)]
    odd = copies("odd", True, -0.9, rng)  # labelled a drawing, looks like the photos
    samples += odd
    held_out = out_of_source_scores(samples)[-len(odd):]
    seen = [mean_score(fit_views(samples), s.views) for s in odd]
    # left out, nothing pulls it towards its label: it reads as a photo, and lower than when fit on it
    assert (held_out < 0).all()
    assert held_out.mean() < np.mean(seen)


def test_temperature_scaling_recovers_overconfident_scores():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, 20000)
    y = rng.random(z.size) < 1 / (1 + np.exp(-z))
    a, b = calibrate(10 * z, y, np.ones(z.size))  # scores ten times too confident
    assert 0.08 < a < 0.12 and b == 0.0


def test_low_and_high_resolution_copies_are_one_source():
    assert group_of("realesrgan/pairs/comic_lr.png") == group_of("realesrgan/pairs/comic_hr.png")
    assert group_of("realesrgan/pairs/comic_lr.png") != group_of("realesrgan/pairs/baboon_lr.png")
