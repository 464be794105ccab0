"""Judge a checkout on the generated image corpus (`image_corpus.py`), class by class: its
decoder (pixels against the truth, refusals and their sentence) and, with --upscale, its whole
pipeline (the saved result's size, alpha, bit depth, PSNR, small-image colour, hidden-colour
bleed, EXIF).

    python tests/image_corpus_score.py [CHECKOUT] [--upscale]
"""
from __future__ import annotations

import sys
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

try:
    from tests.image_corpus import Case, build_corpus
except ImportError:  # run as a script from the tests folder
    from image_corpus import Case, build_corpus


def premultiplied_error(decoded: np.ndarray, truth: np.ndarray) -> int:
    """Largest difference between colour x alpha of two RGBA arrays (what a viewer shows)."""
    def premultiply(pixels):
        top = 65535.0 if pixels.dtype == np.uint16 else 255.0
        return pixels[..., :3].astype(np.float64) * pixels[..., 3:].astype(np.float64) / top
    return int(np.ceil(np.abs(premultiply(decoded) - premultiply(truth)).max()))


def decode_error(pixels: np.ndarray, case: Case) -> str | None:
    """Why `pixels` is not the decode `case` expects, or None."""
    truth = case.truth
    if truth is None:
        return None
    if pixels.shape != truth.shape:
        return f"shape {pixels.shape}, expected {truth.shape}"
    if pixels.dtype != truth.dtype:
        return f"dtype {pixels.dtype}, expected {truth.dtype}"
    if case.name == "tiff16-rgba-associated.tif":
        error = premultiplied_error(pixels, truth)
        return None if error <= 1 and np.array_equal(pixels[..., 3], truth[..., 3]) else f"premultiplied off by {error}"
    error = int(np.abs(pixels.astype(np.int64) - truth.astype(np.int64)).max())
    return None if error <= case.tolerance else f"pixels off by up to {error}"


def score(decode) -> dict[str, Counter]:
    """Per class: how many files came out right, and how each of the others failed."""
    from utils.errors import InvalidInput
    results: dict[str, Counter] = defaultdict(Counter)
    for case in build_corpus():
        try:
            decoded = decode(case.data, name=case.name)
        except InvalidInput as error:
            message = str(error)
            if case.expect == "damaged":
                outcome = "right" if "damaged or truncated" in message else "refused, wrong message"
            elif case.expect == "unsupported":
                named = case.looks_like.lower() in message.lower() if case.looks_like else True
                outcome = "right" if "not a supported image format" in message and named else "refused, wrong message"
            else:
                outcome = "wrongly refused"
        except Exception as error:  # noqa: BLE001 - a crash is an outcome worth counting
            outcome = f"crashed ({type(error).__name__})"
        else:
            if case.expect != "ok":
                outcome = "wrongly accepted"
            else:
                problem = decode_error(decoded.pixels, case)
                outcome = "right" if problem is None else "wrong pixels"
        results[case.kind][outcome] += 1
    return results


STRUCTURE_TAGS = (256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 322, 323, 324, 325)


def to_display(pixels: np.ndarray) -> np.ndarray:
    """8-bit RGB as a viewer shows it: gray widened, alpha composited on mid-gray."""
    pixels = np.asarray(pixels)
    top = 65535.0 if pixels.dtype == np.uint16 else 255.0
    values = pixels.astype(np.float64) / top
    if values.ndim == 2:
        values = values[..., None]
    colour, alpha = (values[..., :-1], values[..., -1:]) if values.shape[2] in (2, 4) else (values, 1.0)
    colour = colour * alpha + 0.5 * (1 - alpha)
    if colour.shape[2] == 1:
        colour = np.repeat(colour, 3, axis=2)
    return np.rint(colour * 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def result_problems(case: Case, output: Path, outscale: int) -> list[str]:
    """What is wrong with the upscaled file `output` of `case`, judged by Pillow/OpenCV reading it:
    size, alpha, bit depth, PSNR of the result downscaled against the truth, and per class the
    colour of small images, of edges beside hidden colour, and the EXIF written."""
    problems = []
    truth = case.truth
    with Image.open(output) as im:
        im.load()
        size, mode, exif = im.size, im.mode, im.getexif()
        has_alpha = "A" in im.getbands() or "transparency" in im.info
    stored = cv2.imread(str(output), cv2.IMREAD_UNCHANGED)
    height, width = truth.shape[:2]
    if size != (width * outscale, height * outscale):
        problems.append(f"size {size}")
    if has_alpha != case.has_alpha:
        problems.append(f"alpha {'added' if has_alpha else 'lost'} ({mode})")
    if truth.dtype == np.uint16 and stored.dtype != np.uint16:
        problems.append("16 bits lost")
    if stored.ndim == 3 and stored.shape[2] >= 3:
        stored = cv2.cvtColor(stored, cv2.COLOR_BGRA2RGBA if stored.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    down = cv2.resize(stored, (width, height), interpolation=cv2.INTER_AREA)
    if down.ndim == 2 and stored.ndim == 3:
        down = down[..., None]
    quality = psnr(to_display(down), to_display(truth))
    limit = 30 if case.kind == "1x1 and 2x3 images" else 22
    if quality < limit:
        problems.append(f"PSNR {quality:.1f} dB against the input")
    if case.kind == "1x1 and 2x3 images":
        error = int(np.abs(to_display(down).astype(int) - to_display(truth).astype(int)).max())
        if error > 12:
            problems.append(f"colour off by {error} levels")
    if case.kind == "hidden colour under alpha":
        visible = stored[..., 3] >= 64  # at least a quarter opaque: its colour shows
        green = int(stored[visible][:, 1].min())  # yellow is (255, 220, 0); red hidden below
        if green < 200:
            problems.append(f"hidden red bled into the yellow edge (green down to {green})")
    if case.kind == "EXIF from TIFF/BigTIFF" and case.name.endswith(".tif"):
        stale = [tag for tag in STRUCTURE_TAGS if tag in exif]
        if exif.get(0x010F) != "Canon" or exif.get_ifd(0x8769).get(0x9003) != "2020:01:02 03:04:05":
            problems.append("camera EXIF not carried over")
        if stale:
            problems.append(f"TIFF structure tags copied: {stale}")
    return problems


def score_upscaled(enhance, manager, folder: Path, outscale: int = 2) -> dict[str, Counter]:
    """Per class: upscale every file a correct decoder reads with the small bundled model and
    judge the saved result (`result_problems`)."""
    from utils.errors import UserError
    results: dict[str, Counter] = defaultdict(Counter)
    for case in build_corpus():
        if case.expect != "ok":
            continue
        source = folder / case.name
        source.write_bytes(case.data)
        try:
            result = enhance(source, "realesr-animevideov3", outscale, model_manager=manager,
                             output_dir=folder / "out", output_format="png" if case.has_alpha else "auto")
            problems = result_problems(case, Path(result.output_path), outscale)
            outcome = "right" if not problems else "wrong: " + "; ".join(problems)
        except UserError:
            outcome = "wrongly refused"
        except Exception as error:  # noqa: BLE001
            outcome = f"crashed ({type(error).__name__}: {error})"
        results[case.kind][outcome] += 1
    return results


def report(title: str, results: dict[str, Counter]) -> None:
    total = sum(sum(c.values()) for c in results.values())
    right = sum(c["right"] for c in results.values())
    print(f"{title}: {right}/{total} files right")
    for kind, outcome in results.items():
        others = ", ".join(f"{n} {what}" for what, n in outcome.items() if what != "right")
        print(f"  {kind:28s} {outcome['right']}/{sum(outcome.values())} right" + (f" ({others})" if others else ""))


def main() -> None:
    """python tests/image_corpus.py [ROOT] [--upscale]: score ROOT's decoder (and whole pipeline)."""
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = Path(args[0]).resolve() if args else Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    from utils.images import decode_image
    report(f"{root} decode", score(decode_image))
    if "--upscale" in sys.argv:
        import logging
        import tempfile
        logging.disable(logging.WARNING)
        from engine.models.manager import ModelManager
        from engine.jobs.image import enhance_image_direct
        with tempfile.TemporaryDirectory() as folder:
            manager = ModelManager(weights_dir=Path(folder) / "weights", allow_downloads=False)
            results = score_upscaled(enhance_image_direct, manager, Path(folder))
            report(f"{root} upscale (realesr-animevideov3, x2)", results)


if __name__ == "__main__":
    main()
