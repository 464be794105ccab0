"""python -m bench.content_model: fit the content-type classifier's constants.

A logistic regression (L2, balanced classes) over the standardised `content_features` of coloured
images: the labelled images of ../shared/testdata (LABELS.csv), every 30th frame of its labelled
anime video, and scikit-image's natural photos. Prints the constants for
`engine.intelligent_enhancer.CONTENT_MODEL`, the training accuracy and the leave-one-out accuracy
(each image scored by a model fit without it). Grayscale images are left to the saturation rule.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.enhancer import SKIMAGE_PHOTOS, TESTDATA, labelled_rows, skimage_dir  # noqa: E402
from engine.intelligent_enhancer import GRAY_SATURATION, content_features, opaque_mask  # noqa: E402
from utils.images import read_image, to_rgb8  # noqa: E402

FEATURES = ("line_density", "chroma_luma", "hue_entropy")
FRAME_STEP = 30


def samples() -> list[tuple[str, bool, np.ndarray]]:
    """(name, is anime, pixels) for every training image."""
    found = []
    for row in labelled_rows():
        found.append((row["path"], row["content_type"] == "anime", read_image(TESTDATA / row["path"]).pixels))
    video = TESTDATA / "realesrgan/video/onepiece_demo.mp4"
    if video.is_file():
        import av
        with av.open(str(video)) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index % FRAME_STEP == FRAME_STEP // 2:
                    found.append((f"{video.name}#{index}", True, frame.to_ndarray(format="rgb24")))
    for name in SKIMAGE_PHOTOS:
        if (skimage_dir() / name).is_file():
            found.append((f"skimage/{name}", False, read_image(skimage_dir() / name).pixels))
    return found


def fit(x: np.ndarray, y: np.ndarray, l2: float = 0.01,
        steps: int = 4000) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    mean, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mean) / sd
    weight, bias = np.zeros(z.shape[1]), 0.0
    balance = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    for _ in range(steps):
        error = (1 / (1 + np.exp(-(z @ weight + bias))) - y) * balance
        weight -= 0.1 * (z.T @ error / len(y) + l2 * weight)
        bias -= 0.1 * error.mean()
    return weight, bias, mean, sd


def score(model, x: np.ndarray) -> np.ndarray:
    weight, bias, mean, sd = model
    return ((x - mean) / sd) @ weight + bias


def main() -> int:
    rows = []
    for name, anime, pixels in samples():
        features = content_features(to_rgb8(pixels), opaque_mask(pixels))
        if features["saturation"] >= GRAY_SATURATION:
            rows.append((name, anime, [features[f] for f in FEATURES]))
    x = np.array([r[2] for r in rows])
    y = np.array([r[1] for r in rows], float)
    model = fit(x, y)
    right = int(((score(model, x) >= 0) == (y == 1)).sum())
    loo = 0
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        loo += int((score(fit(x[keep], y[keep]), x[i:i + 1])[0] >= 0) == (y[i] == 1))
    weight, bias, mean, sd = model
    print("CONTENT_MODEL = {\"bias\": %.4f, \"features\": {" % bias)
    for name, m, s, w in zip(FEATURES, mean, sd, weight):
        print(f'    "{name}": ({m:.4f}, {s:.4f}, {w:.4f}),')
    print("}}")
    print(f"{len(y)} coloured images ({int(y.sum())} anime): {right}/{len(y)} right when trained on all, "
          f"{loo}/{len(y)} leave-one-out")
    for (name, anime, _), s in zip(rows, score(model, x)):
        print(f"  {name:50s} {'anime' if anime else 'photo'}  score {s:+.2f}{'' if (s >= 0) == anime else '  WRONG'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
