"""The content classifier's fit (bench/content_model.py): sources never leak into their own
validation, the calibration is honest, copies of one picture are one source."""
import numpy as np

from bench.content_model import (COLOUR_FEATURES, Sample, calibrate, choose_threshold, fit_views, group_of, mean_score,
                                 out_of_source_scores)


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


def test_the_threshold_makes_each_type_of_confident_answer_reliable():
    # 100 confident photo answers, all right, and 20 anime answers at 0.7-0.89 of which 5 are photos:
    # overall 96 % right from 0.7 up, but confident "anime" answers only 75 % right there
    p = np.concatenate([np.full(100, 0.05), np.linspace(0.7, 0.89, 20), np.full(10, 0.95)])
    y = np.concatenate([np.zeros(100, bool), np.arange(20) % 4 != 0, np.ones(10, bool)])
    w = np.ones(p.size)
    threshold = choose_threshold(p, y, w)
    keep = np.round(np.maximum(p, 1 - p), 2) >= threshold
    anime = keep & (p >= 0.5)
    assert y[anime].mean() >= 0.95 and y[~keep].size > 0
    assert threshold > 0.86  # the overall precision alone would have allowed 0.7
