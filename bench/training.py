"""python -m bench.training [--steps N] [--patch-size P] [--batch-size B] [--seed S] [--device D]:
fine-tune the bundled realesr-animevideov3 on the frames of the labelled anime video and measure
what it gains. The first half of the video trains, the second half validates (split by time, so
neighbouring, near-identical frames never sit on both sides). Prints steps/s and the validation
PSNR/SSIM of the starting and the fine-tuned model, and writes them as JSON."""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import AppConfig  # noqa: E402
from engine.models.manager import ModelManager  # noqa: E402
from engine.training import TrainingRequest, train_model  # noqa: E402
from utils.gpu import cpu_model_name, device_request  # noqa: E402
from utils.images import save_image  # noqa: E402

VIDEO = ROOT.parent / "shared" / "testdata" / "realesrgan" / "video" / "onepiece_demo.mp4"


def decode_frames(path: Path, folder: Path) -> list[Path]:
    """Every frame of the video as a PNG in `folder`, in display order (PyAV decodes)."""
    paths = []
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            paths.append(save_image(folder / f"frame_{index:04d}.png", frame.to_ndarray(format="rgb24"), "png"))
    return paths


def split_by_time(frames: list[Path], validation_frames: int) -> tuple[list[Path], list[Path]]:
    """The first half trains; `validation_frames` spread evenly over the second half validate."""
    half = len(frames) // 2
    later = frames[half:]
    picks = np.linspace(0, len(later) - 1, min(validation_frames, len(later))).round().astype(int)
    return frames[:half], [later[i] for i in sorted(set(picks))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.training", description=__doc__)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--patch-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--validation-frames", type=int, default=12)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: the configured device)")
    parser.add_argument("--out", type=Path, default=Path("bench-training.json"))
    args = parser.parse_args(argv)
    if not VIDEO.is_file():
        print(f"error: {VIDEO} is not there; the bench needs ../shared/testdata beside the clone.", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "frames").mkdir()
        frames = decode_frames(VIDEO, tmp / "frames")
        train, validation = split_by_time(frames, args.validation_frames)
        manager = ModelManager.from_config(AppConfig.from_env())
        name = f"bench-onepiece-{time.strftime('%Y%m%d-%H%M%S')}"
        request = TrainingRequest(folder=tmp / "frames", name=name, steps=args.steps, patch_px=args.patch_size,
                                  batch_size=args.batch_size, seed=args.seed, learning_rate=args.lr,
                                  train_paths=tuple(train), validation_paths=tuple(validation))
        every = max(1, args.steps // 10)

        def on_step(report) -> None:
            if report.step % every == 0:
                print(f"step {report.step}/{report.steps}  loss {report.loss:.4f}  "
                      f"{report.steps_per_s or 0:.2f} steps/s", file=sys.stderr, flush=True)
        started = time.perf_counter()
        result = train_model(request, manager=manager, work_dir=tmp / "work", device=device_request(args.device, None),
                             on_step=on_step)
        wall = time.perf_counter() - started
        # the bench's model is a measurement, not something to keep in the user's model list
        for path in (result.model_path, result.card_path, result.card_path.with_suffix(".md")):
            path.unlink(missing_ok=True)
        shutil.move(result.grid_path, args.out.with_suffix(".png"))
    v = result.validation
    figures = {
        "video": VIDEO.name, "train_frames": len(train), "validation_frames": len(validation),
        "steps": args.steps, "patch_px": args.patch_size, "batch_size": args.batch_size, "seed": args.seed,
        "learning_rate": args.lr, "precision": result.precision, "steps_per_s": round(result.steps_per_s, 3),
        "training_seconds": round(result.seconds, 1), "wall_seconds": round(wall, 1),
        "base_psnr_db": round(v.base_psnr_db, 3), "tuned_psnr_db": round(v.tuned_psnr_db, 3),
        "psnr_margin_db": round(v.tuned_psnr_db - v.base_psnr_db, 3),
        "base_ssim": round(v.base_ssim, 4), "tuned_ssim": round(v.tuned_ssim, 4),
        "ssim_margin": round(v.tuned_ssim - v.base_ssim, 4),
        "loss_first_10": round(float(np.mean(result.losses[:10])), 4),
        "loss_last_10": round(float(np.mean(result.losses[-10:])), 4),
        "machine": {"cpu": cpu_model_name(), "threads": torch.get_num_threads(), "python": platform.python_version(),
                    "torch": torch.__version__},
    }
    print(v.table())
    print(f"\n{args.steps} steps of {args.batch_size}x{args.patch_size}px patches in {result.seconds:.1f} s: "
          f"{result.steps_per_s:.2f} steps/s ({result.precision}); training loss {figures['loss_first_10']:.4f} "
          f"-> {figures['loss_last_10']:.4f}")
    print(f"validation on {len(validation)} held-back frames of the second half: PSNR {v.base_psnr_db:.2f} -> "
          f"{v.tuned_psnr_db:.2f} dB ({figures['psnr_margin_db']:+.2f} dB), SSIM {v.base_ssim:.4f} -> "
          f"{v.tuned_ssim:.4f} ({figures['ssim_margin']:+.4f})")
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"figures: {args.out}, grid: {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
