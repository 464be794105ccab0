"""What each CLI command does; every failure a user can cause ends in one stderr line."""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from config import AppConfig
from engine.jobs.image import enhance_image_direct, image_defaults
from engine.jobs.naming import distinct_stems
from engine.models.manager import ModelManager
from engine.models.weights import expected_sha256, fetch_weights, sha256_of
from engine.request import EnhanceRequest
from utils.errors import Cancelled, UserError, describe_error
from utils.gpu import device_request
from utils.images import ACCEPTED_EXTENSIONS
from utils.metrics import format_bytes

log = logging.getLogger(__name__)
from cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE  # noqa: F401


def history_for(config: AppConfig):
    from engine.jobs.history import History
    return History(config.HISTORY_DB)


def manager_for(config: AppConfig) -> ModelManager:
    return ModelManager.from_config(config)


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def run_command(args: argparse.Namespace, config: AppConfig, parser: argparse.ArgumentParser) -> int:
    commands = {"upscale": cmd_upscale, "batch": cmd_batch, "video": cmd_video, "analyze": cmd_analyze,
                "history": cmd_history, "models": cmd_models, "compare": cmd_compare,
                "train": cmd_train}
    if args.command not in commands:
        parser.print_help()
        return EXIT_USAGE
    return commands[args.command](args, config)


def expand_inputs(inputs: list[str]) -> list[Path]:
    """Files as given; folders expanded to the images directly inside them, sorted."""
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            paths += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in ACCEPTED_EXTENSIONS)
        else:
            paths.append(path)
    return paths


class TileBar:
    """A tqdm bar over the tiles (or frames) of the current job, on stderr, with the time left."""

    def __init__(self, name: str, unit: str = "tiles"):
        from tqdm import tqdm

        from utils.progress import ProgressEstimate
        self.bar = tqdm(total=0, desc=name, unit=unit[:-1], file=sys.stderr, leave=False,
                        disable=not sys.stderr.isatty())
        self.estimate = ProgressEstimate(self.show, unit)

    def __call__(self, done: int, total: int, note: str) -> None:
        self.estimate(done, total, note)

    def show(self, done: int, total: int, note: str) -> None:
        if self.bar.total != total:
            self.bar.reset(total=total)
        self.bar.n = done
        self.bar.set_postfix_str(note, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def request_of(args: argparse.Namespace, base: EnhanceRequest, **settings) -> EnhanceRequest:
    """The job's request: each flag whose destination is an `EnhanceRequest` field (a new setting's
    flag needs nothing else), and `settings`, over `base`."""
    given = {name: value for name, value in vars(args).items()
             if name in EnhanceRequest.__dataclass_fields__ and value is not None}
    return EnhanceRequest.from_dict({**given, "device": device_request(args.device, args.gpu_id), **settings},
                                    base=base)


def cmd_upscale(args: argparse.Namespace, config: AppConfig) -> int:
    manager = manager_for(config)
    history = history_for(config)
    output_dir = args.output or config.OUTPUT_DIR
    failures = 0
    paths = expand_inputs(args.inputs)
    stems = distinct_stems(paths)  # pic.png + pic.gif -> pic-png_out.png + pic-gif_out.png
    for path in paths:
        bar = TileBar(path.name)
        try:
            result = enhance_image_direct(path, request=request_of(args, image_defaults(config.engine)), model_manager=manager,
                                          config=config.engine, output_dir=output_dir, output_name=stems[path],
                                          on_progress=bar, history=history)
        except (UserError, RuntimeError, MemoryError, OSError) as error:
            bar.close()
            failures += 1
            log.info("upscale of %s failed", path, exc_info=not isinstance(error, UserError))
            message = describe_error(error)
            fail(message if path.name in message else f"{path}: {message}")
            continue
        bar.close()
        print(f"{result.output_path}  ({result.status})")
    return EXIT_FAILED if failures else EXIT_OK


def cmd_batch(args: argparse.Namespace, config: AppConfig) -> int:
    from engine.jobs.batch import images_in, process_batch
    from engine.jobs.naming import KEEP_NAME_TEMPLATE
    if not args.input_dir.is_dir():
        fail(f"{args.input_dir} is not a folder.")
        return EXIT_FAILED
    inputs = images_in(args.input_dir, recursive=args.recursive)
    if not inputs:
        fail(f"{args.input_dir} has no images (PNG, JPEG, WebP, BMP, TIFF or GIF).")
        return EXIT_FAILED
    from tqdm import tqdm
    items = tqdm(total=len(inputs), unit="image", file=sys.stderr, disable=not sys.stderr.isatty())

    def on_item(done: int, total: int, name: str) -> None:
        items.n = done
        items.set_postfix_str(name)
    template = KEEP_NAME_TEMPLATE if args.keep_name else args.name_template
    try:
        request = request_of(args, image_defaults(config.engine), name_template=template or "", overwrite=not args.no_overwrite)
        common = dict(output_dir=args.output or config.OUTPUT_DIR, request=request, resume=args.resume,
                      on_item=on_item, config=config.engine, history=history_for(config),
                      input_root=args.input_dir if args.recursive else None)
        if args.ray:
            from engine.jobs.cluster import process_batch_ray
            result = process_batch_ray(inputs, address=args.ray, weights_dir=config.WEIGHTS_DIR, **common)
        else:
            result = process_batch(inputs, model_manager=manager_for(config), **common)
    except UserError as error:
        items.close()
        fail(str(error))
        return EXIT_FAILED
    items.close()
    for item in result.items:
        if item.status == "failed":
            fail(item.error if item.input_path.name in item.error else f"{item.input_path}: {item.error}")
        else:
            print(f"{item.output_path}  ({item.status})")
    print(result.summary())
    return EXIT_FAILED if result.failed else EXIT_OK


def cmd_history(args: argparse.Namespace, config: AppConfig) -> int:
    from engine.jobs.history import HEADERS
    jobs = history_for(config).jobs(kind=args.kind, status=args.status, search=args.search, limit=args.limit)
    if args.json:
        print(json.dumps([job.__dict__ for job in jobs], indent=2, default=str))
        return EXIT_OK
    rows = [HEADERS] + [job.row() for job in jobs]
    widths = [min(40, max(len(r[i]) for r in rows)) for i in range(len(HEADERS))]
    for row in rows:
        print("  ".join(cell[:40].ljust(width) for cell, width in zip(row, widths)).rstrip())
    if not jobs:
        print("no jobs recorded yet")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace, config: AppConfig) -> int:
    from engine.jobs.compare import compare_models, comparison_grid
    from utils.images import read_image, save_image
    manager = manager_for(config)
    names = args.models or [r.name for r in manager.list_models(("upscaler",)) if r.available]
    output_dir = args.output or config.OUTPUT_DIR
    try:
        region = tuple(int(v) for v in args.region.split(",")) if args.region else None
        if region is not None and len(region) != 4:
            raise ValueError
    except ValueError:
        fail("--region must be X,Y,WIDTH,HEIGHT, four whole numbers.")
        return EXIT_USAGE
    try:
        pixels = read_image(args.image, max_bytes=config.MAX_IMAGE_BYTES, max_pixels=config.MAX_IMAGE_PIXELS).pixels
        crop, results = compare_models(pixels, names, model_manager=manager, region=region,
                                       on_progress=TileBar(args.image.name, "models"))
        grid = save_image(output_dir / f"{args.image.stem}_compare.png", comparison_grid(crop, results), "png")
        for r in results:
            if r.image is not None:
                save_image(output_dir / f"{args.image.stem}_{r.model.replace('/', '-')}.png", r.image, "png")
    except UserError as error:
        fail(str(error))
        return EXIT_FAILED
    except OSError as error:
        fail(describe_error(error))
        return EXIT_FAILED
    for r in results:
        print(f"{r.model:<28} {f'{r.seconds:.2f} s' if r.image is not None else r.error}")
    print(grid)
    return EXIT_OK


def cmd_analyze(args: argparse.Namespace, config: AppConfig) -> int:
    from engine.intelligent_enhancer import IntelligentEnhancer
    from utils.images import read_image
    try:
        pixels = read_image(args.image, max_bytes=config.MAX_IMAGE_BYTES, max_pixels=config.MAX_IMAGE_PIXELS).pixels
        enhancer = IntelligentEnhancer(manager_for(config), max_output_pixels=config.MAX_OUTPUT_PIXELS,
                                       memory_reserve=config.GPU_MEMORY_RESERVE)
        result = enhancer.get_intelligent_settings(pixels)
    except UserError as error:
        fail(str(error))
        return EXIT_FAILED
    print(json.dumps(result, indent=2))
    return EXIT_OK


class Interrupted(Cancelled):
    """SIGTERM or SIGINT during a job: cleaned up like any other failure, said in one line."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}; the unfinished result was removed.")


@contextlib.contextmanager
def signals_raise_interrupted():
    """Turn SIGTERM/SIGINT into `Interrupted` in the main thread, so the job's own clean-up runs
    (temporary files removed) instead of the process dying with them on disk."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Interrupted(signum)
    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def cmd_video(args: argparse.Namespace, config: AppConfig) -> int:
    from engine.jobs.video import enhance_video_direct, video_defaults
    bar = TileBar(Path(args.input).name, "frames")
    try:
        with signals_raise_interrupted():
            request = request_of(args, video_defaults(config.engine))
            result = enhance_video_direct(args.input, request=request, model_manager=manager_for(config),
                                          config=config.engine, output_dir=args.output or config.OUTPUT_DIR,
                                          on_progress=bar, history=history_for(config), keep_partial=args.keep_partial)
    except Interrupted as error:
        bar.close()
        fail(str(error))
        return 128 + error.signum
    except (UserError, RuntimeError, MemoryError, OSError) as error:
        bar.close()
        log.info("video %s failed", args.input, exc_info=not isinstance(error, UserError))
        fail(describe_error(error))
        return EXIT_FAILED
    bar.close()
    print(f"{result.output_path}  ({result.summary})")
    for note in result.notes:
        print(f"  note: {note}")
    return EXIT_OK


def cmd_models(args: argparse.Namespace, config: AppConfig) -> int:
    manager = manager_for(config)
    if args.action == "list":
        rows = manager.list_models()
        width = max(len(r.name) for r in rows)
        print(f"{'model':<{width}}  {'kind':<11}  {'status':<12}  {'size':>9}  description")
        for r in rows:
            print(f"{r.name:<{width}}  {r.kind:<11}  {r.status:<12}  {format_bytes(r.size_bytes):>9}  {r.description}")
        print(f"\nweights directory: {config.WEIGHTS_DIR}")
        return EXIT_OK
    if args.action == "download":
        if args.name not in manager.models:
            fail(f"unknown model {args.name!r}; see `python main.py models list`.")
            return EXIT_FAILED
        spec = manager.models[args.name]
        try:  # no published hash (e.g. CodeFormer): recorded now, checked on every later use
            path = fetch_weights(spec, config.WEIGHTS_DIR, on_progress=TileBar(spec.filename),
                                 timeout_s=config.DOWNLOAD_TIMEOUT_S)
        except UserError as error:
            fail(str(error))
            return EXIT_FAILED
        print(path)
        return EXIT_OK
    if args.action == "verify":
        return verify_weights(manager)
    return EXIT_USAGE


def verify_weights(manager: ModelManager) -> int:
    bad = 0
    report = []
    for spec in manager.models.values():
        path = manager.weights_dir / spec.filename
        if not path.is_file():
            continue
        known = expected_sha256(spec, manager.weights_dir)
        actual = sha256_of(path)
        state = "unknown hash (recorded now)" if not known else ("ok" if actual == known else "MISMATCH")
        if state == "MISMATCH":
            bad += 1
            fail(f"{path.name} does not match its known SHA256; delete it and download it again from {spec.url}.")
        elif not known:
            from engine.models.weights import record_checksum
            record_checksum(manager.weights_dir, spec.filename, actual)
        report.append({"file": path.name, "status": state, "sha256": actual})
    print(json.dumps(report, indent=2) if report else "no downloaded weights to verify "
          "(bundled models are checked against their pinned pack hashes when converted)")
    return EXIT_FAILED if bad else EXIT_OK


def cmd_train(args: argparse.Namespace, config: AppConfig) -> int:
    """Fine-tune, printing progress on stderr and the validation table on stdout. The first Ctrl-C
    stops after the current step and keeps a checkpoint, so the same command continues the run."""
    from engine.jobs.job_control import JobControl
    from engine.training import StepReport, TrainingRequest, train_model
    from utils.progress import format_seconds
    stop = threading.Event()
    every = max(1, args.steps // 20)

    def on_step(report: StepReport) -> None:
        if report.step == report.resumed_from + 1 and report.resumed_from:
            print(f"continuing from the checkpoint at step {report.resumed_from}", file=sys.stderr)
        if report.step % every == 0 or report.step == report.steps:
            left = f", about {format_seconds(report.seconds_left)} left" if report.seconds_left else ""
            rate = f", {report.steps_per_s:.2f} steps/s" if report.steps_per_s else ""
            print(f"step {report.step}/{report.steps}  loss {report.loss:.4f}{rate}{left}", file=sys.stderr,
                  flush=True)
    request = TrainingRequest(folder=args.folder, name=args.name, base=args.base, steps=args.steps,
                              patch_px=args.patch_size, batch_size=args.batch_size, seed=args.seed,
                              learning_rate=args.lr)
    signum_seen: list[int] = []

    def handler(signum, frame):
        signum_seen.append(signum)
        stop.set()
    previous = ({s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
                if threading.current_thread() is threading.main_thread() else {})
    try:
        result = train_model(request, manager=manager_for(config),
                             work_dir=config.DATA_DIR / "training" / args.name,
                             device=device_request(args.device, args.gpu_id),
                             should_cancel=JobControl(cancelled=stop.is_set), on_step=on_step,
                             max_pixels=config.MAX_IMAGE_PIXELS)
    except Cancelled as error:
        fail(str(error))
        return 128 + signum_seen[0] if signum_seen else EXIT_FAILED
    except (UserError, RuntimeError, MemoryError, OSError) as error:
        log.info("training %s failed", args.name, exc_info=not isinstance(error, UserError))
        fail(describe_error(error))
        return EXIT_FAILED
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
    print(result.validation.table())
    print(f"\nmodel: {result.model_name}  ({result.model_path})")
    print(f"training card: {result.card_path}")
    print(f"before/after grid: {result.grid_path}")
    print(f"{result.steps_per_s:.2f} steps/s, {format_seconds(result.seconds)}, {result.precision}")
    return EXIT_OK
