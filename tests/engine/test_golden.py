"""Golden outputs: each bundled model on the same 32x32 crop must give the stored 128x128 result
within one level of 255. A change that alters every output alike (tiled and whole) fails here.
Regenerate with `python -m tests.golden.regenerate` only when the change is meant."""
import numpy as np
import pytest
from PIL import Image

from tests.golden.regenerate import BUNDLED_MODELS, golden_output, golden_path


def difference_histogram(a: np.ndarray, b: np.ndarray) -> str:
    levels, counts = np.unique(np.abs(a.astype(int) - b.astype(int)), return_counts=True)
    return ", ".join(f"{level}: {count}" for level, count in zip(levels, counts))


@pytest.mark.parametrize("model_name", BUNDLED_MODELS)
def test_bundled_model_matches_its_golden_output(manager, model_name):
    expected = np.asarray(Image.open(golden_path(model_name)))
    actual = golden_output(manager, model_name)
    assert actual.shape == expected.shape == (128, 128, 3)
    worst = int(np.abs(actual.astype(int) - expected.astype(int)).max())
    assert worst <= 1, f"{model_name} differs from its golden output by up to {worst} levels " \
                       f"(|difference|: pixel count) {difference_histogram(actual, expected)}"
