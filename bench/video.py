"""python -m bench.video [--seconds S] [--outscale X] [--codec C] [--device D]: frames/s of the whole
video path (decode, model, encode, overlapping) on the labelled anime video, against the model alone
on the same frames already in memory. The difference is what decoding and encoding still cost."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import write_figures  # noqa: E402
from engine.models.manager import ModelManager  # noqa: E402
from engine.pixels.upscale import UpscaleOptions, default_pad_px  # noqa: E402
from engine.jobs.video import FrameUpscaler, enhance_video_direct, even, frames_per_batch  # noqa: E402
from engine.jobs.video_format import plan_pictures  # noqa: E402
from engine.jobs.video_frames import FrameItem, to_rgb  # noqa: E402
from utils.gpu import device_request  # noqa: E402
from utils.video_probe import probe_video  # noqa: E402

VIDEO = ROOT.parent / "shared" / "testdata" / "realesrgan" / "video" / "onepiece_demo.mp4"


def decoded_frames(path: Path, seconds: float, plan) -> list[FrameItem]:
    """The frames the video path will process, decoded up front (not timed)."""
    items = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        origin = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        for frame in container.decode(stream):
            if frame.time - origin >= seconds:
                break
            items.append(FrameItem(to_rgb(frame, plan), frame.pts, frame.time_base))
    return items


def model_alone(manager: ModelManager, path: Path, model_name: str, outscale: float, seconds: float, gpu_id,
                batch: int | None) -> dict:
    info = probe_video(path)
    model = manager.load_model(model_name, gpu_id)
    options = UpscaleOptions(outscale=outscale, tile_px=None, pad_px=default_pad_px(model.architecture))
    plan = plan_pictures(info, "libx264")
    items = decoded_frames(path, seconds, plan)
    size = batch or frames_per_batch(model, info.height, info.width, options)
    upscaler = FrameUpscaler(model, options, even(info.width * outscale), even(info.height * outscale), None,
                             manager, gpu_id)
    upscaler(items[:size])  # warm-up (kernels, caches); the video run below gets the same warm model
    started = time.perf_counter()
    for i in range(0, len(items), size):
        upscaler(items[i:i + size])
    return {"frames": len(items), "seconds": time.perf_counter() - started, "batch": size,
            "device": str(model.device), "precision": model.precision}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.video", description=__doc__)
    parser.add_argument("--video", type=Path, default=VIDEO)
    parser.add_argument("--model", default="realesr-animevideov3")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of the start of the video to process")
    parser.add_argument("--outscale", type=float, default=2.0)
    parser.add_argument("--codec", default="h264")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N, mps")
    parser.add_argument("--batch", type=int, default=None, help="frames per model call (default: automatic)")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args()
    if not args.video.is_file():
        print(f"{args.video} is missing; pass --video", file=sys.stderr)
        return 2
    gpu_id = device_request(args.device, None)
    with tempfile.TemporaryDirectory() as tmp:
        manager = ModelManager(weights_dir=Path(tmp) / "weights")
        alone = model_alone(manager, args.video, args.model, args.outscale, args.seconds, gpu_id, args.batch)
        result = enhance_video_direct(args.video, args.model, args.outscale, model_manager=manager,
                                      output_dir=Path(tmp) / "out", codec=args.codec, max_seconds=args.seconds,
                                      gpu_id=gpu_id, frame_batch=args.batch)
    if result.frames != alone["frames"]:
        print(f"the video path did {result.frames} frames, the model-alone run {alone['frames']}", file=sys.stderr)
        return 1
    figures = {
        "video": args.video.name, "model": args.model, "device": alone["device"], "precision": alone["precision"],
        "frames": result.frames, "input": f"{result.width // args.outscale:.0f}x{result.height // args.outscale:.0f}",
        "output": f"{result.width}x{result.height}", "codec": args.codec, "batch": alone["batch"],
        "cpu_threads": os.cpu_count(),
        "video_seconds": result.seconds, "video_frames_per_s": result.frames / result.seconds,
        "model_alone_seconds": alone["seconds"], "model_alone_frames_per_s": alone["frames"] / alone["seconds"],
        "overhead": result.seconds / alone["seconds"] - 1,
        # the same ratio within the one run (wall time against the model's busy time there): immune
        # to the machine getting faster or slower between the two runs
        "overhead_in_run": result.seconds / result.upscale_seconds - 1,
        "busy_decode_s": result.decode_seconds, "busy_model_s": result.upscale_seconds,
        "busy_encode_s": result.encode_seconds,
        "sequential_estimate_s": result.decode_seconds + result.upscale_seconds + result.encode_seconds,
    }
    print(f"\n{figures['video']}, first {args.seconds:g} s ({figures['frames']} frames {figures['input']} -> "
          f"{figures['output']}), {args.model} on {figures['device']} ({figures['precision']}), {args.codec}\n")
    print("| whole video path | model alone | overhead vs model alone | overhead vs model busy in the same run | "
          "busy: decode / model / encode |")
    print("|---|---|---|---|---|")
    print(f"| {figures['video_frames_per_s']:.2f} frames/s ({figures['video_seconds']:.1f} s) | "
          f"{figures['model_alone_frames_per_s']:.2f} frames/s ({figures['model_alone_seconds']:.1f} s) | "
          f"{100 * figures['overhead']:+.1f}% | {100 * figures['overhead_in_run']:+.1f}% | "
          f"{figures['busy_decode_s']:.1f} / {figures['busy_model_s']:.1f} / "
          f"{figures['busy_encode_s']:.1f} s (one after the other: {figures['sequential_estimate_s']:.1f} s) |")
    if args.out:
        write_figures(args.out, figures)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TQDM_DISABLE", "1")
    sys.exit(main())
