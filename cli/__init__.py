"""The command line: `python main.py upscale|models|...`. Flags follow Real-ESRGAN's
`inference_realesrgan.py`. Exit 0 when everything succeeded, 1 when any input failed (one clear
line each on stderr, the rest still processed), 2 on a usage or configuration error."""
from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from config import AppConfig, load_or_report

log = logging.getLogger(__name__)
from cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE  # noqa: F401


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python main.py", description="Real-ESRGAN Ultimate. "
                                     "Without a command, starts the web UI.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    commands.add_parser("serve", help="start the web UI (the default)")

    up = commands.add_parser("upscale", help="upscale image files or folders")
    up.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders of images")
    add_enhance_flags(up)

    batch = commands.add_parser("batch", help="upscale every image in a folder; failures do not stop it")
    batch.add_argument("input_dir", metavar="IN_DIR", type=Path)
    add_enhance_flags(batch)
    batch.add_argument("--resume", action="store_true", help="skip images whose output already exists")
    batch.add_argument("-r", "--recursive", action="store_true",
                       help="include subfolders, mirroring the folder tree under the output folder")
    batch.add_argument("--name-template", help="output names, e.g. '{stem}_{model}_{scale}.{ext}' "
                       "(placeholders {stem} {model} {scale} {ext} {date})")
    batch.add_argument("--keep-name", action="store_true", help="keep the original file name")
    batch.add_argument("--no-overwrite", action="store_true", help="never replace a file: add ' (2)' instead")
    batch.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                       help="distribute over a Ray cluster (a local one when no address is given)")

    compare = commands.add_parser("compare", help="run several models on one region and make a labelled grid")
    compare.add_argument("image", type=Path)
    compare.add_argument("-o", "--output", type=Path, help="output folder (default REALESRGAN_OUTPUT_DIR)")
    compare.add_argument("-m", "--models", nargs="+", help="models to compare (default: every available one)")
    compare.add_argument("--region", help="X,Y,WIDTH,HEIGHT in input pixels (default: the centre 256x256)")

    analyze = commands.add_parser("analyze", help="print recommended settings for an image as JSON")
    analyze.add_argument("image", type=Path)

    history = commands.add_parser("history", help="the jobs run so far, newest first")
    history.add_argument("--kind", choices=("image", "video", "batch-item"))
    history.add_argument("--status", choices=("ok", "failed", "cancelled"))
    history.add_argument("--search", help="text in the input name, model or error")
    history.add_argument("--limit", type=int, default=50)
    history.add_argument("--json", action="store_true", help="print JSON instead of a table")

    video = commands.add_parser("video", help="upscale a video (audio and subtitles kept)")
    video.add_argument("input", metavar="INPUT")
    video.add_argument("-o", "--output", type=Path, help="output folder (default REALESRGAN_OUTPUT_DIR)")
    video.add_argument("-n", "--model-name", dest="model",
                       help="model (default realesr-animevideov3, made for video)")
    video.add_argument("-s", "--outscale", type=float, help="final scale, 1 to 8 (default 2)")
    video.add_argument("--face-enhance", action="store_true", help="restore faces in every frame")
    add_face_flags(video)
    video.add_argument("--codec", choices=("h264", "h265", "vp9", "av1"), help="default h264")
    video.add_argument("--crf", type=int, default=None, help="quality: lower is better (default per codec)")
    video.add_argument("--max-seconds", type=float, default=None,
                       help="process only the first S seconds (counted from the first timestamp)")
    video.add_argument("--keep-partial", action="store_true",
                       help="keep the result of a truncated or damaged file instead of refusing it (said so)")
    video.add_argument("-t", "--tile", type=int, help="tile size in pixels, 0 for automatic")
    video.add_argument("--fp32", dest="precision", action="store_const", const="fp32", help="full precision (slower)")
    video.add_argument("--suffix", help="output name suffix (default out)")
    add_device_flags(video)

    train = commands.add_parser("train", help="fine-tune a small model on a folder of your own sharp images")
    train.add_argument("folder", metavar="DIR", type=Path, help="folder of sharp, high-resolution images")
    train.add_argument("-o", "--output", dest="name", required=True, metavar="NAME",
                       help="name of the new model (it appears as custom/NAME in every tab)")
    train.add_argument("--steps", type=int, default=500, help="training steps (default 500)")
    train.add_argument("--base", default="realesr-animevideov3",
                       help="starting model: realesr-animevideov3 (bundled), realesr-general-x4v3 or a custom "
                            "Compact model (default realesr-animevideov3)")
    train.add_argument("--patch-size", type=int, default=128, help="training patch side in pixels (default 128)")
    train.add_argument("--batch-size", type=int, default=4, help="patches per step (default 4)")
    train.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same model")
    train.add_argument("--lr", type=float, default=1e-4, help="learning rate (default 1e-4)")
    add_device_flags(train)

    models = commands.add_parser("models", help="list, download or verify model weights")
    actions = models.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="every model with its status and size")
    download = actions.add_parser("download", help="download a model's official weights")
    download.add_argument("name")
    actions.add_parser("verify", help="check the SHA256 of every weights file present")
    return parser


def add_enhance_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path, help="output folder (default REALESRGAN_OUTPUT_DIR)")
    parser.add_argument("-n", "--model-name", dest="model", help="model name (see `models list`)")
    parser.add_argument("-s", "--outscale", type=float, help="final scale, 1 to 8 (default 4)")
    parser.add_argument("--size", help="instead of the outscale: 1920x (width), x1080 (height) or 1920x1080 "
                        "(fit within), the aspect kept")
    parser.add_argument("-dn", "--denoise-strength", type=float,
                        help="realesr-general-x4v3 only: 0 keeps noise, 1 removes it (default 0.5)")
    parser.add_argument("-t", "--tile", type=int, help="tile size in pixels, 0 for automatic")
    parser.add_argument("--tile-pad", type=int, default=None, help="tile overlap in pixels (default per model)")
    parser.add_argument("--fp32", dest="precision", action="store_const", const="fp32", help="full precision (slower)")
    parser.add_argument("--face-enhance", action="store_true", help="restore faces (GFPGANv1.4 unless --face-restorer)")
    add_face_flags(parser)
    parser.add_argument("--alpha-upsampler", choices=("realesrgan", "bicubic"), help="default realesrgan")
    parser.add_argument("--ext", dest="output_format", choices=("auto", "png", "jpg", "webp"),
                        help="output format; auto keeps the input's (png for alpha or 16-bit)")
    parser.add_argument("--quality", type=int, help="jpg/webp quality, 1 to 100")
    parser.add_argument("--suffix", help="output name suffix (default out)")
    parser.add_argument("--strip-metadata", action="store_true", help="drop EXIF and the ICC profile (privacy)")
    parser.add_argument("--blend-model", metavar="NAME", help="mix in a second model's upscale")
    parser.add_argument("--blend-weight", type=float, metavar="W",
                        help="the second model's visibility, 0 to 1 (default 0.5)")
    parser.add_argument("--double-pass", action="store_true",
                        help="run the model over its own output: the outscale applies twice (x4 -> x16)")
    add_device_flags(parser)


def add_face_flags(parser: argparse.ArgumentParser) -> None:
    from engine.models.registry import FACE_RESTORERS
    parser.add_argument("--face-restorer", choices=FACE_RESTORERS, metavar="NAME",
                        help=f"with --face-enhance: {', '.join(FACE_RESTORERS)} (default GFPGANv1.4; CodeFormer "
                        "is for non-commercial use only, S-Lab licence)")
    parser.add_argument("--face-fidelity", type=float, metavar="W",
                        help="0 = fully restored (default) to 1 = closest to the original face; CodeFormer takes it "
                        "as its weight w, the others mix the original face back in")


def add_device_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-g", "--gpu-id", type=int, default=None, help="GPU to use (0 is the first)")
    parser.add_argument("--device", default=None, metavar="DEVICE", type=device_name,
                        help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps (default REALESRGAN_DEVICE)")


def device_name(text: str) -> str:
    from utils.errors import InvalidInput
    from utils.gpu import check_device_name
    try:
        return check_device_name(text)
    except InvalidInput as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: Sequence[str], config: AppConfig | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    config = load_or_report(config)
    if config is None:
        return EXIT_USAGE
    from utils.logger import setup_logging
    setup_logging(config.LOG_FILE, config.LOG_LEVEL, console=False)
    from cli.commands import run_command
    return run_command(args, config, parser)
