"""python -m bench.enhancer: how right and how fast the IntelligentEnhancer is.

- content type and face counts on ../shared/testdata/LABELS.csv (and content type on the natural
  photos in scikit-image's data folder, all labelled "photo"),
- noise-sigma mean absolute error for sigma in {0, 5, 10, 15, 25} added to those clean photos,
- analysis time for a 12 MP image.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.intelligent_enhancer import IntelligentEnhancer, classify_content, estimate_noise_sigma  # noqa: E402
from engine.model_manager import ModelManager  # noqa: E402
from utils.images import read_image  # noqa: E402

TESTDATA = ROOT.parent / "shared" / "testdata"
SKIMAGE_PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "camera.png", "motorcycle_left.png",
                  "hubble_deep_field.jpg", "coins.png", "moon.png", "retina.jpg", "brick.png", "grass.png",
                  "gravel.png", "ihc.png")
SIGMAS = (0, 5, 10, 15, 25)


def skimage_dir() -> Path:
    import skimage
    return Path(skimage.__file__).parent / "data"


def labelled_rows() -> list[dict]:
    labels = TESTDATA / "LABELS.csv"
    if not labels.is_file():
        return []
    return [r for r in csv.DictReader(labels.open()) if not r["path"].endswith(".mp4")]


def content_and_faces(enhancer: IntelligentEnhancer) -> list[dict]:
    rows = []
    for row in labelled_rows():
        pixels = read_image(TESTDATA / row["path"]).pixels
        result = enhancer.get_intelligent_settings(pixels)["analysis"]
        rows.append({"image": row["path"], "type": row["content_type"], "predicted_type": result["content_type"],
                     "confidence": result["content_confidence"], "faces": int(row["faces"]),
                     "predicted_faces": result["faces"]})
    for name in SKIMAGE_PHOTOS:
        path = skimage_dir() / name
        if path.is_file():
            guess = classify_content(read_image(path).pixels)
            rows.append({"image": f"skimage/{name}", "type": "photo", "predicted_type": guess.content_type,
                         "confidence": guess.confidence, "faces": None, "predicted_faces": None})
    return rows


def noise_errors(seed: int = 0) -> dict[int, float]:
    rng = np.random.default_rng(seed)
    errors: dict[int, list[float]] = {s: [] for s in SIGMAS}
    for name in SKIMAGE_PHOTOS:
        path = skimage_dir() / name
        if not path.is_file():
            continue
        pixels = read_image(path).pixels
        rgb = pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
        rgb = rgb[..., :3]
        for sigma in SIGMAS:
            noisy = rgb if sigma == 0 else np.clip(np.rint(rgb + rng.normal(0, sigma, rgb.shape)), 0, 255).astype(np.uint8)
            errors[sigma].append(abs(estimate_noise_sigma(noisy) - sigma))
    return {s: float(np.mean(v)) for s, v in errors.items() if v}


def analysis_time_12mp(enhancer: IntelligentEnhancer, repeats: int = 3) -> float:
    from skimage import data
    tile = data.astronaut()
    big = np.ascontiguousarray(np.tile(tile, (6, 8, 1))[:3000, :4000])  # 12 MP
    enhancer.get_intelligent_settings(big)  # warm-up (detector load)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        enhancer.get_intelligent_settings(big)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.enhancer")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "enhancer.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        enhancer = IntelligentEnhancer(ModelManager(weights_dir=Path(tmp), allow_downloads=False))
        rows = content_and_faces(enhancer)
        noise = noise_errors()
        ms = analysis_time_12mp(enhancer)
    labelled = [r for r in rows if not r["image"].startswith("skimage/")]
    with_faces = [r for r in labelled if r["faces"]]
    without = [r for r in labelled if r["faces"] == 0]
    summary = {
        "content_accuracy_labelled": sum(r["type"] == r["predicted_type"] for r in labelled) / max(1, len(labelled)),
        "content_accuracy_skimage": (sum(r["type"] == r["predicted_type"] for r in rows if r not in labelled)
                                     / max(1, len(rows) - len(labelled))),
        "face_exact_share": sum(r["faces"] == r["predicted_faces"] for r in with_faces) / max(1, len(with_faces)),
        "false_face_images": sum(r["predicted_faces"] > 0 for r in without),
        "noise_mae_by_sigma": noise,
        "noise_mae": float(np.mean(list(noise.values()))) if noise else None,
        "analysis_ms_12mp": ms,
    }
    print("| image | type | predicted | faces | predicted |")
    print("|---|---|---|---|---|")
    for r in rows:
        mark = "" if r["type"] == r["predicted_type"] else " (wrong)"
        faces = "" if r["faces"] is None else f"{r['faces']} | {r['predicted_faces']}"
        print(f"| {r['image']} | {r['type']} | {r['predicted_type']} {r['confidence']:.2f}{mark} | {faces or '- | -'} |")
    print()
    print(f"content type right: {summary['content_accuracy_labelled']:.0%} of labelled images, "
          f"{summary['content_accuracy_skimage']:.0%} of scikit-image photos")
    print(f"exact face counts: {summary['face_exact_share']:.0%} of labelled images with faces; "
          f"images without faces where a face was reported: {summary['false_face_images']}")
    print("noise sigma MAE: " + ", ".join(f"sigma {s}: {e:.2f}" for s, e in noise.items())
          + f"; mean {summary['noise_mae']:.2f}")
    print(f"analysis of a 12 MP image: {ms:.0f} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
