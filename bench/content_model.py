"""python -m bench.content_model: fit and validate the content-type classifier, and write its
coefficients to engine/analysis/content_model.json (run it again to regenerate them after changing the
features or the data).

Data: every labelled image in ../shared/testdata (LABELS.csv), every frame of the labelled anime
video, and scikit-image's natural photos. Each source is augmented the way users' copies of an
image differ: scaled to 25, 50, 75 and 100 %, cropped, JPEG-compressed at qualities 30-95 and given
sensor-like noise. Copies that come out grayscale are left to the classifier's gray rule (photo,
unclear): the model is fit on the coloured ones.

Validation is leave-one-source-out: all augmented copies of a source (the low- and high-resolution
copies of one picture count as one source; the video counts as one source per shot) are left out
together, so no source is in both the training and the validation data. The calibration
(temperature scaling of the mean view score) and the confidence threshold are fit on those out-of-source scores.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.analysis.content import COLOUR_FEATURES, MODEL_FILE, content_views, guess, is_gray  # noqa: E402
from engine.intelligent_enhancer import opaque_mask  # noqa: E402
from utils.images import read_image, to_rgb8  # noqa: E402

TESTDATA = ROOT.parent / "shared" / "testdata"
VIDEO = "realesrgan/video/onepiece_demo.mp4"
SKIMAGE_PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "camera.png", "motorcycle_left.png",
                  "hubble_deep_field.jpg", "coins.png", "moon.png", "retina.jpg", "brick.png", "grass.png",
                  "gravel.png", "ihc.png")
SCALES = (0.25, 0.5, 0.75, 1.0)
VARIANTS = 3  # augmented copies per still image and scale, beside the plain one
TARGET_PRECISION = 0.95  # the threshold: out-of-source accuracy of each type of confident answer, per source
PHOTO_WEIGHT = 1.0  # photos' total weight relative to the drawings'
L2 = 100.0  # ridge penalty of the fit (on standardised terms; the data weigh as many as the views)
TERMS = COLOUR_FEATURES + tuple(f"{name}*{name}" for name in COLOUR_FEATURES)
SHOT_CUT = 0.3  # a hue/saturation histogram change above this between two frames starts a new shot


def skimage_dir() -> Path:
    import skimage
    return Path(skimage.__file__).parent / "data"


def labelled_rows() -> list[dict]:
    labels = TESTDATA / "LABELS.csv"
    if not labels.is_file():
        return []
    return list(csv.DictReader(labels.open()))


@dataclass
class Source:
    name: str
    group: str  # copies of one picture share a group
    anime: bool
    pixels: np.ndarray  # 8-bit RGB
    opaque: np.ndarray | None = None
    frame: bool = False


def group_of(path: str) -> str:
    """pairs/comic_lr.png and pairs/comic_hr.png are one picture."""
    stem = Path(path).stem
    for suffix in ("_lr", "_hr"):
        stem = stem.removesuffix(suffix)
    return str(Path(path).parent / stem)


def video_frames(path: Path) -> list[tuple[int, int, np.ndarray]]:
    """(index, shot, RGB) for every frame; a shot changes where the colour histogram jumps."""
    import av
    frames, shot, previous = [], 0, None
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            rgb = frame.to_ndarray(format="rgb24")
            hist = cv2.calcHist([cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)], [0, 1], None, [16, 8], [0, 180, 0, 256]).ravel()
            hist /= hist.sum()
            if previous is not None and np.abs(hist - previous).sum() > SHOT_CUT:
                shot += 1
            previous = hist
            frames.append((index, shot, rgb))
    return frames


def sources() -> list[Source]:
    found = []
    for row in labelled_rows():
        path = TESTDATA / row["path"]
        anime = row["content_type"] == "anime"
        if row["path"].endswith(".mp4"):
            for index, shot, rgb in video_frames(path):
                found.append(Source(f"{row['path']}#{index}", f"{row['path']}#shot{shot}", anime, rgb, frame=True))
            continue
        pixels = read_image(path).pixels
        found.append(Source(row["path"], group_of(row["path"]), anime, to_rgb8(pixels), opaque_mask(pixels)))
    for name in SKIMAGE_PHOTOS:
        if (skimage_dir() / name).is_file():
            pixels = read_image(skimage_dir() / name).pixels
            found.append(Source(f"skimage/{name}", f"skimage/{name}", False, to_rgb8(pixels), opaque_mask(pixels)))
    return found


def resized(pixels: np.ndarray, scale: float, interpolation=cv2.INTER_AREA) -> np.ndarray:
    if scale == 1.0:
        return pixels
    h, w = pixels.shape[:2]
    return cv2.resize(pixels, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interpolation)


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def augmented(source: Source, scale: float, rng: np.random.Generator | None):
    """A copy at `scale`; with `rng`, also a random crop (60-100 % of each side), sensor-like
    noise (sigma 0-10) and JPEG (quality 30-95)."""
    rgb, opaque = source.pixels, source.opaque
    if rng is not None and rng.random() < 0.6:
        h, w = rgb.shape[:2]
        ch, cw = int(h * rng.uniform(0.6, 1.0)), int(w * rng.uniform(0.6, 1.0))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        rgb = rgb[y:y + ch, x:x + cw]
        opaque = None if opaque is None else opaque[y:y + ch, x:x + cw]
    rgb = resized(rgb, scale)
    opaque = None if opaque is None else resized(opaque.astype(np.uint8), scale, cv2.INTER_NEAREST) > 0
    if rng is not None:
        if rng.random() < 0.4:
            sigma = float(rng.choice([3.0, 6.0, 10.0]))
            rgb = np.clip(np.rint(rgb + rng.normal(0, sigma, rgb.shape)), 0, 255).astype(np.uint8)
        if rng.random() < 0.6:
            rgb = jpeg(rgb, int(rng.choice([30, 50, 70, 90, 95])))
    return rgb, opaque


@dataclass
class Sample:
    source: str
    group: str
    anime: bool
    scale: float
    plain: bool  # no crop, noise or JPEG: the copy used for the flip rate
    views: np.ndarray  # (views, features) in the model's feature order
    colour: bool = True  # False: the copy is gray (the gray rule answers for it, not the model)
    colourfulness: float = 0.0  # its mean over the views (what tells gray copies)


def build_samples(seed: int = 0, frame_variants: int = 1, log=print) -> list[Sample]:
    rng = np.random.default_rng(seed)
    samples = []
    all_sources = sources()
    for number, source in enumerate(all_sources):
        if number % 40 == 0:
            log(f"  features: source {number + 1}/{len(all_sources)}")
        for scale in SCALES:
            copies = [(True, None)] + [(False, rng) for _ in range(frame_variants if source.frame else VARIANTS)]
            for plain, generator in copies:
                rgb, opaque = augmented(source, scale, generator)
                per_view = content_views(rgb, opaque)
                views = np.array([[v[n] for n in COLOUR_FEATURES] for v in per_view])
                samples.append(Sample(source.name, source.group, source.anime, scale, plain, views,
                                      not is_gray(per_view), float(np.mean([v["colourfulness"] for v in per_view]))))
    return samples


# -- the model -------------------------------------------------------------------------------------
def expand(views: np.ndarray) -> np.ndarray:
    """The model's TERMS from the feature columns: each feature, then each feature squared."""
    return np.hstack([views, views * views])


def fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = L2) -> tuple[np.ndarray, float]:
    """Weighted L2-regularised logistic regression by Newton's method (x standardised)."""
    a = np.hstack([x, np.ones((len(x), 1))])
    theta = np.zeros(a.shape[1])
    penalty = np.full(a.shape[1], l2)
    penalty[-1] = 0.0
    w = w / w.sum() * len(w)
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(a @ theta, -30, 30)))
        gradient = a.T @ (w * (p - y)) + penalty * theta
        hessian = (a * (w * p * (1 - p))[:, None]).T @ a + np.diag(penalty) + 1e-9 * np.eye(a.shape[1])
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    return theta[:-1], float(theta[-1])


def sample_weights(samples: list[Sample]) -> np.ndarray:
    """Each source group weighs the same within its class; photos weigh PHOTO_WEIGHT times the
    drawings (a photo sent to the anime model loses its detail; a drawing given the
    general-purpose model loses little)."""
    groups = [s.group for s in samples]
    count = {g: groups.count(g) for g in set(groups)}
    w = np.array([1.0 / count[g] for g in groups])
    y = np.array([s.anime for s in samples])
    for label, share in ((True, 1.0), (False, PHOTO_WEIGHT)):
        if (y == label).any():
            w[y == label] *= share / w[y == label].sum()
    return w


def fit_views(samples: list[Sample]) -> dict:
    """Fit on every view of every sample (each view weighs its sample's weight / views)."""
    w = sample_weights(samples)
    x = np.vstack([expand(s.views) for s in samples])
    y = np.concatenate([np.full(len(s.views), float(s.anime)) for s in samples])
    vw = np.concatenate([np.full(len(s.views), wi / len(s.views)) for s, wi in zip(samples, w)])
    mean, sd = x.mean(0), x.std(0) + 1e-9
    weight, bias = fit_logistic((x - mean) / sd, y, vw)
    return {"terms": list(TERMS), "mean": mean.round(6).tolist(), "sd": sd.round(6).tolist(),
            "weight": weight.round(6).tolist(), "bias": round(bias, 6), "calibration": [1.0, 0.0]}


def mean_score(model: dict, views: np.ndarray) -> float:
    z = (expand(views) - np.array(model["mean"])) / np.array(model["sd"])
    return float((z @ np.array(model["weight"]) + model["bias"]).mean())


def calibrate(scores: np.ndarray, y: np.ndarray, w: np.ndarray) -> list[float]:
    """Temperature scaling (Guo et al. 2017): sigmoid(a * score) fit to the out-of-source scores by
    Newton's method. It makes the confidence honest without moving the decision boundary."""
    a, w = 1.0, w / w.sum()
    for _ in range(100):
        p = 1 / (1 + np.exp(-np.clip(a * scores, -30, 30)))
        step = (w * (p - y) * scores).sum() / max((w * p * (1 - p) * scores * scores).sum(), 1e-12)
        a = max(a - step, 1e-3)
        if abs(step) < 1e-9:
            break
    return [round(float(a), 6), 0.0]


def out_of_source_scores(samples: list[Sample]) -> np.ndarray:
    """Each sample's score from a model fit without any sample of its source group."""
    scores = np.zeros(len(samples))
    groups = np.array([s.group for s in samples])
    for group in sorted(set(groups)):
        held = groups == group
        model = fit_views([s for s, h in zip(samples, held) if not h])
        for i in np.flatnonzero(held):
            scores[i] = mean_score(model, samples[i].views)
    return scores


def choose_threshold(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """The lowest confidence at which the confident answers of each type are right
    TARGET_PRECISION of the time (each source group weighing the same): a confident "anime" sends
    the image to the anime model, so it must be as reliable as a confident "photo" on its own, not
    only on average with the (more numerous or easier) other type."""
    confidence = np.round(np.maximum(p, 1 - p), 2)
    right = (p >= 0.5) == y
    for threshold in np.arange(0.5, 0.96, 0.01):
        keep = confidence >= round(threshold, 2)
        answers = [keep & (p >= 0.5), keep & (p < 0.5)]
        if keep.any() and all((w[k] * right[k]).sum() >= TARGET_PRECISION * w[k].sum() for k in answers):
            return round(float(threshold), 2)
    return 0.95


@dataclass
class Validation:
    samples: list[Sample]
    anime: np.ndarray  # the out-of-source answer for each copy (gray copies: the gray rule)
    confidence: np.ndarray
    clear: np.ndarray
    model: dict


def as_views(sample: Sample) -> list[dict[str, float]]:
    return [dict(zip(COLOUR_FEATURES, row), colourfulness=sample.colourfulness) for row in sample.views]


def validate_and_fit(samples: list[Sample]) -> Validation:
    """Out-of-source scores, the calibration and threshold fit on them, then the final fit on every
    coloured copy; each copy's answer as a user would get it from a model that never saw its source."""
    colour = [s for s in samples if s.colour]
    scores = out_of_source_scores(colour)
    y = np.array([s.anime for s in colour])
    w = sample_weights(colour)
    calibration = calibrate(scores, y, w)
    p = 1 / (1 + np.exp(-(calibration[0] * scores + calibration[1])))
    model = dict(fit_views(colour), calibration=calibration, threshold=choose_threshold(p, y, w))
    oos = {id(s): score for s, score in zip(colour, scores)}
    anime, confidence, clear = [], [], []
    for s in samples:
        # the copy's own out-of-source score through the shipped decision rule
        held_out = dict(model, mean=[0.0] * len(TERMS), sd=[1.0] * len(TERMS),
                        weight=[0.0] * len(TERMS), bias=oos.get(id(s), 0.0))
        g = guess(as_views(s), held_out)
        anime.append(g.content_type == "anime")
        confidence.append(g.confidence)
        clear.append(g.clear)
    return Validation(samples, np.array(anime), np.array(confidence), np.array(clear), model)


def by_source_accuracy(v: Validation, scale: float | None = None) -> dict[str, float]:
    """Accuracy per source group (mean over its copies), for copies at `scale` (all when None)."""
    right: dict[str, list[bool]] = {}
    for s, anime in zip(v.samples, v.anime):
        if scale is None or s.scale == scale:
            right.setdefault(s.group, []).append(anime == s.anime)
    return {g: float(np.mean(r)) for g, r in right.items()}


def flips(v: Validation) -> dict[str, list[str]]:
    """{"images"/"frames": [each source, "!" + it when its plain copies get different types across
    the scales]}."""
    types: dict[str, set[bool]] = {}
    for s, anime in zip(v.samples, v.anime):
        if s.plain:
            types.setdefault(s.source, set()).add(bool(anime))
    out: dict[str, list[str]] = {"images": [], "frames": []}
    for name, t in sorted(types.items()):
        out["frames" if "#" in name else "images"].append(("!" if len(t) > 1 else "") + name)
    return out


def report(v: Validation) -> dict:
    """The figures bench.enhancer prints."""
    per_scale = {}
    for scale in SCALES:
        accuracy = by_source_accuracy(v, scale)
        per_scale[f"{scale:.0%}"] = float(np.mean(list(accuracy.values())))
    overall = by_source_accuracy(v)
    clear = v.clear
    truth = np.array([s.anime for s in v.samples])
    right = v.anime == truth
    flipped = flips(v)
    rate = {k: sum(n.startswith("!") for n in names) / max(1, len(names)) for k, names in flipped.items()}
    kind = {s.group: s.anime for s in v.samples}
    return {"sources": len(overall), "samples": len(v.samples),
            "accuracy_by_source": float(np.mean(list(overall.values()))),
            "accuracy_by_source_photo": float(np.mean([a for g, a in overall.items() if not kind[g]])),
            "accuracy_by_source_anime": float(np.mean([a for g, a in overall.items() if kind[g]])),
            "accuracy_by_source_per_scale": per_scale,
            "worst_sources": sorted(overall.items(), key=lambda kv: kv[1])[:5],
            "flip_rate": rate["images"], "flip_rate_frames": rate["frames"],
            "flip_images": len(flipped["images"]), "flip_frames": len(flipped["frames"]),
            "flipped": [n[1:] for names in flipped.values() for n in names if n.startswith("!")],
            "photo_copies_sent_to_anime": float((clear & v.anime & ~truth).sum() / max(1, (~truth).sum())),
            "threshold": v.model["threshold"], "clear_share": float(clear.mean()),
            "accuracy_when_clear": float(right[clear].mean()) if clear.any() else None}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.content_model", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=MODEL_FILE, help="where to write the coefficients")
    parser.add_argument("--dry-run", action="store_true", help="validate only; do not write the coefficients")
    args = parser.parse_args()
    if not (TESTDATA / "LABELS.csv").is_file():
        print(f"{TESTDATA} is missing: the classifier is fit on its labelled images.", file=sys.stderr)
        return 1
    return fit_and_write(build_samples(), args.out, args.dry_run)


def fit_and_write(samples: list[Sample], out: Path, dry_run: bool = False) -> int:
    v = validate_and_fit(samples)
    figures = report(v)
    print(json.dumps(figures, indent=1))
    if not dry_run:
        model = dict(v.model, fitted_by="python -m bench.content_model",
                     validation={k: figures[k] for k in ("sources", "samples", "accuracy_by_source",
                                                         "accuracy_by_source_per_scale", "flip_rate",
                                                         "flip_rate_frames", "threshold")})
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(model, indent=1) + "\n")
        tmp.replace(out)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
