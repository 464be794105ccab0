"""Processing entry points: validate, choose settings, load the model, upscale, restore faces,
save atomically, measure. `enhance_image_direct` is the seed's single-image function."""
from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image

from engine.pixels.blend import blend_pixels, check_blend_weight, intermediate_limit_message, pixel_limit_message
from engine.pixels.inference import CancelCheck
from engine.models.manager import ModelManager
from engine.jobs.naming import check_template, render_name, unused_path
from engine.jobs.resume import settings_key
from engine.pixels.upscale import (ALPHA_UPSAMPLERS, UpscaleOptions, UpscaleReport, check_outscale, default_pad_px,
                            edge_px_for, upscale_pixels)
from utils.errors import Cancelled, InvalidInput, OutputError, UserError
from utils.files import OutputWriteError
from utils.gpu import DeviceRequest, GPUDetector
from utils.image_formats import auto_output_format
from utils.images import OUTPUT_FORMATS, DecodedImage, pillow_to_array, read_image, save_image
from utils.metrics import calculate_image_metrics
from utils.validation import sanitize_filename, validate_pil_image, validate_tile_size

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]
ImageInput = str | Path | Image.Image | np.ndarray


@dataclass(frozen=True)
class Limits:
    max_image_bytes: int | None = 100 * 1024 * 1024
    max_image_pixels: int | None = 50_000_000
    max_output_pixels: int | None = 400_000_000

    @classmethod
    def from_config(cls, config: Any) -> "Limits":
        if config is None:
            return cls()
        return cls(config.MAX_IMAGE_BYTES, config.MAX_IMAGE_PIXELS, config.MAX_OUTPUT_PIXELS)


@dataclass
class EnhanceResult:
    """Unpacks as the seed's tuple: (result_path, input_path, status, metrics)."""
    output_path: Path | None
    input_path: Path | None
    status: str
    metrics: dict[str, str]
    image: np.ndarray | None = None
    original: np.ndarray | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.output_path, self.input_path, self.status, self.metrics))

    def metrics_table(self) -> list[list[str]]:
        labels = {"original_size": "Original size", "enhanced_size": "Enhanced size", "scale_factor": "Scale",
                  "original_filesize": "Original file", "enhanced_filesize": "Enhanced file",
                  "size_change": "File size change", "time": "Time", "device": "Device",
                  "precision": "Precision", "model": "Model", "tiles": "Tiles", "faces": "Faces restored"}
        return [[labels.get(k, k), v] for k, v in self.metrics.items()]


def load_input(image: ImageInput, limits: Limits) -> tuple[DecodedImage, Path | None, int | None]:
    """(decoded image, its path if it came from a file, its size in bytes if known)."""
    if isinstance(image, (str, Path)):
        path = Path(image)
        decoded = read_image(path, max_bytes=limits.max_image_bytes, max_pixels=limits.max_image_pixels)
        return decoded, path, path.stat().st_size
    if isinstance(image, Image.Image):
        ok, message = validate_pil_image(image, limits.max_image_pixels)
        if not ok:
            raise InvalidInput(message)
        return DecodedImage(np.ascontiguousarray(pillow_to_array(image)), image.format or "PIL"), None, None
    if isinstance(image, np.ndarray):
        if image.dtype not in (np.uint8, np.uint16) or image.ndim not in (2, 3) or \
                (image.ndim == 3 and image.shape[2] not in (1, 2, 3, 4)):
            raise InvalidInput("Expected an 8- or 16-bit image array (HxW, HxWx2, HxWx3 or HxWx4).")
        if limits.max_image_pixels and image.shape[0] * image.shape[1] > limits.max_image_pixels:
            raise InvalidInput(f"The image is over the {limits.max_image_pixels / 1e6:.1f} MP limit.")
        return DecodedImage(np.ascontiguousarray(image), "array"), None, None
    if image is None:
        raise InvalidInput("No image was given; upload an image first.")
    raise InvalidInput(f"Cannot process a {type(image).__name__}; give a file path or an image.")


def choose_format(requested: str, decoded: DecodedImage, source: Path | None) -> str:
    requested = (requested or "auto").lower()
    if requested == "jpeg":
        requested = "jpg"
    if requested != "auto":
        if requested not in OUTPUT_FORMATS:
            raise InvalidInput(f"Output format {requested!r} is not supported; use auto, png, jpg or webp.")
        return requested
    return auto_output_format(decoded.format, has_alpha=decoded.has_alpha, bit_depth=decoded.bit_depth,
                              lossy_source=decoded.lossy)


def tile_setting(tile: int | None, auto_tile: bool) -> int | None:
    """The seed's (tile, auto_tile) pair as one value: None for automatic, 0 for none, else pixels."""
    tile = int(tile or 0)
    ok, message = validate_tile_size(tile)
    if not ok:
        raise InvalidInput(message)
    if tile == 0:
        return None if auto_tile else 0
    return tile


RECORDED_SETTINGS = ("tile", "auto_tile", "tile_pad", "fp32", "face_enhance", "face_options", "denoise_strength",
                     "alpha_upsampler", "output_format", "quality", "gpu_id", "strip_metadata", "codec", "crf",
                     "max_seconds", "name_template", "overwrite", "blend_model", "blend_weight",
                     "double_pass")


def job_settings(model_name: str | None, scale: float, options: dict[str, Any]) -> dict[str, Any]:
    """The settings a history row keeps for a job."""
    return {"model": model_name, "outscale": scale, **{k: v for k, v in options.items() if k in RECORDED_SETTINGS}}


@functools.cache
def defaults_of(function) -> Mapping[str, Any]:
    """A function's keyword defaults (through decorators), so a setting left out and one passed at
    its default are recorded, and recognised by resume, as the same. Read once per function."""
    parameters = inspect.signature(inspect.unwrap(function)).parameters.values()
    return MappingProxyType({p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty})


def image_job_settings(model_name: str | None, scale: float, options: dict[str, Any]) -> dict[str, Any]:
    """An image job's full settings: `options` over `enhance_image_direct`'s defaults."""
    return job_settings(model_name, scale, {**defaults_of(enhance_image_direct), **options})


def recorded(kind: str):
    """Record each call of an entry point in the job history passed as `history=` (if any):
    its settings, model, device, times, output and status, failures included."""
    def wrap(function):
        @functools.wraps(function)
        def call(source, model_name=None, scale=4, *, history=None, batch_id=None, **kwargs):
            if history is None:
                return function(source, model_name, scale, **kwargs)
            started = time.time()
            job_kind = kind if batch_id is None else "batch-item"
            settings = job_settings(model_name, scale, {**defaults_of(function), **kwargs})
            source_path = source if isinstance(source, (str, Path)) else None
            common = dict(kind=job_kind, input_path=source_path, settings=settings, model=model_name,
                          started_at=started, batch_id=batch_id, settings_key=settings_key(settings))
            try:
                result = function(source, model_name, scale, **kwargs)
            except Exception as error:
                history.record(**common, device=None,
                               status="cancelled" if isinstance(error, Cancelled) else "failed",
                               error=str(error) if isinstance(error, UserError) else type(error).__name__)
                raise
            history.record(**common, device=getattr(result, "device", None) or result.metrics.get("device"),
                           status="ok", output_path=result.output_path)
            return result
        return call
    return wrap


@recorded("image")
def enhance_image_direct(image: ImageInput, model_name: str | None = None, scale: float = 4, *,
                         model_manager: ModelManager, config: Any = None, output_dir: str | Path | None = None,
                         output_name: str | None = None, suffix: str = "out", tile: int = 0,
                         auto_tile: bool = True, tile_pad: int | None = None, fp32: bool = False,
                         face_enhance: bool = False, face_options: Any = None, denoise_strength: float = 0.5,
                         alpha_upsampler: str = "realesrgan", output_format: str = "auto", quality: int = 95,
                         gpu_id: DeviceRequest = None, on_progress: ProgressFn | None = None,
                         should_cancel: CancelCheck | None = None, save: bool = True, strip_metadata: bool = False,
                         name_template: str | None = None, overwrite: bool = True,
                         blend_model: str | None = None, blend_weight: float = 0.5, double_pass: bool = False,
                         **unused: Any) -> EnhanceResult:
    """Upscale one image and (when `save`) write it to `output_dir/<stem>_<suffix>.<ext>` atomically.

    `scale` is the outscale, 1..8. `tile` 0 with `auto_tile` picks a tile size from free memory.
    The ICC profile and EXIF (orientation reset, since it was applied) are kept unless
    `strip_metadata`. `name_template` ({stem}, {model}, {scale}, {ext}, {date}) replaces the
    `<stem>_<suffix>.<ext>` name; with `overwrite=False` an existing file gets a " (2)" twin.
    `blend_model` mixes a second model's upscale in, `blend_weight` being its visibility (0..1);
    `double_pass` runs the model(s) over their own output, so the result is `scale` squared.
    Raises a `UserError` subclass with a one-sentence message for anything the user can fix.
    """
    started = time.perf_counter()
    model_name = model_name or unused.pop("model", None) or getattr(config, "DEFAULT_MODEL", "RealESRGAN_x4plus")
    if unused:
        log.debug("enhance_image_direct ignores %s", sorted(unused))
    limits = Limits.from_config(config)
    outscale = check_outscale(float(scale))
    if alpha_upsampler not in ALPHA_UPSAMPLERS:
        raise InvalidInput(f"Alpha mode {alpha_upsampler!r} is not supported; use realesrgan or bicubic.")
    if not 1 <= int(quality) <= 100:
        raise InvalidInput(f"Quality {quality} is out of range; use 1 to 100.")
    tile_px = tile_setting(tile, auto_tile)
    if name_template:
        check_template(name_template)
    if blend_model:
        check_blend_weight(blend_weight)

    decoded, source, source_bytes = load_input(image, limits)
    too_large = pixel_limit_message(decoded.width, decoded.height, outscale, double_pass, limits.max_output_pixels)
    if too_large:
        raise InvalidInput(too_large)
    fmt = choose_format(output_format, decoded, source)
    if save and output_dir is None:
        output_dir = getattr(config, "OUTPUT_DIR", None) or "outputs"
    if decoded.frames > 1:
        log.info("%s is animated (%d frames); using its first frame", source or "input", decoded.frames)

    face_opts = prepare_faces(face_enhance, face_options, model_manager, config)
    pixels_in = decoded.pixels
    if face_opts is not None and face_opts.aligned:
        from engine.faces.restore import restore_aligned_face
        pixels_in = restore_aligned_face(pixels_in, model_manager=model_manager, gpu_id=gpu_id, options=face_opts)

    def load_step(done: int, total: int, note: str) -> None:
        if on_progress:
            on_progress(0, 1, note)

    def load(name: str):
        return model_manager.load_model(name, gpu_id, fp32, denoise_strength=denoise_strength, on_progress=load_step)

    def options_for(loaded) -> UpscaleOptions:
        pad = tile_pad if tile_pad is not None else default_pad_px(loaded.architecture)
        return UpscaleOptions(outscale=outscale, tile_px=tile_px, pad_px=pad, alpha_upsampler=alpha_upsampler,  # type: ignore[arg-type]
                              memory_reserve=getattr(config, "GPU_MEMORY_RESERVE", 0.1))

    def run(loaded, label: str) -> tuple[np.ndarray, UpscaleReport]:
        return run_passes(loaded, pixels_in, options_for(loaded), 2 if double_pass else 1, label=label,
                          on_progress=on_progress, should_cancel=should_cancel)

    model = load(model_name)
    second = load(blend_model) if blend_model else None
    for loaded in filter(None, (model, second)):
        border = 2 * edge_px_for(options_for(loaded))  # the mirrored border goes through the model too
        too_large = intermediate_limit_message(decoded.width + border, decoded.height + border, loaded.scale,
                                               outscale, double_pass, limits.max_output_pixels)
        if too_large:
            raise InvalidInput(too_large)
    try:
        pixels, report = run(model, model.name if second else "")
        if second is not None:
            second_pixels, _ = run(second, second.name)
            pixels = blend_pixels(pixels, second_pixels, blend_weight)
        faces = 1 if face_opts is not None and face_opts.aligned else 0
        if face_opts is not None and not face_opts.aligned:
            from engine.faces.restore import restore_faces  # imported on demand: facexlib is heavy
            if on_progress:
                on_progress(report.tiles, report.tiles, "restoring faces")
            pixels, faces = restore_faces(decoded.pixels, pixels, model_manager=model_manager, gpu_id=gpu_id,
                                          options=face_opts, should_cancel=should_cancel)
    finally:
        if getattr(config, "ENABLE_MEMORY_OPTIMIZATION", True) and model.device.type != "cpu":
            GPUDetector.clear_gpu_cache(model.device.index)

    output_path, output_bytes = None, None
    if save:
        stem = sanitize_filename(output_name or (source.stem if source else "image"))
        if name_template:
            name = render_name(name_template, stem=stem, model=model.name, scale=outscale, ext=fmt)
        else:
            name = f"{stem}_{sanitize_filename(suffix, 'out')}.{fmt}"
        output_path = Path(output_dir) / name  # type: ignore[arg-type]
        if not overwrite:
            output_path = unused_path(output_path)
        try:
            save_image(output_path, pixels, fmt, quality=quality,  # type: ignore[arg-type]
                       icc_profile=None if strip_metadata else decoded.icc_profile,
                       exif=None if strip_metadata else decoded.exif)
        except OutputWriteError as error:
            raise OutputError(str(error)) from None
        output_bytes = output_path.stat().st_size
    seconds = time.perf_counter() - started
    metrics = calculate_image_metrics(decoded.pixels, pixels, original_bytes=source_bytes, enhanced_bytes=output_bytes)
    described = describe_models(model.name, second.name if second else None, blend_weight, double_pass)
    metrics.update({"time": f"{seconds:.2f} s", "device": str(model.device), "precision": model.precision,
                    "model": described,
                    "tiles": f"{report.tiles} ({f'{report.tile_px} px' if report.tile_px else 'whole image'})"})
    if face_opts is not None:
        metrics["faces"] = str(faces)
    status = (f"Enhanced {decoded.width}x{decoded.height} -> {pixels.shape[1]}x{pixels.shape[0]} with {described} "
              f"in {seconds:.1f} s")
    return EnhanceResult(output_path, source, status, metrics, pixels, decoded.pixels,
                         {"seconds": seconds, "report": report, "model": model, "format": fmt})


def run_passes(model, pixels: np.ndarray, options: UpscaleOptions, passes: int, *, label: str = "",
               on_progress: ProgressFn | None = None,
               should_cancel: CancelCheck | None = None) -> tuple[np.ndarray, UpscaleReport]:
    """`model` applied `passes` times, each pass over the previous one's output; the report is the
    first pass's. Progress notes name the model (`label`) and the pass when there are several."""
    report = None
    for number in range(1, passes + 1):
        prefix = ", ".join(filter(None, [label, f"pass {number}/{passes}" if passes > 1 else ""]))

        def staged(done: int, total: int, note: str, prefix: str = prefix) -> None:
            if on_progress:
                on_progress(done, total, f"{prefix}: {note}" if prefix else note)
        pixels, this_report = upscale_pixels(model, pixels, options, on_progress=staged, should_cancel=should_cancel)
        report = report or this_report
    return pixels, report  # type: ignore[return-value]


def describe_models(first: str, second: str | None, weight: float, double_pass: bool) -> str:
    """E.g. "RealESRGAN_x4plus 70% + realesr-animevideov3 30%, double pass"."""
    text = f"{first} {round(100 * (1 - weight))}% + {second} {round(100 * weight)}%" if second else first
    return f"{text}, double pass" if double_pass else text


def prepare_faces(face_enhance: bool, face_options: Any, model_manager: ModelManager, config: Any):
    """Checked face options when face enhancement is on (its weights resolved before any
    upscaling, so a missing file fails fast), else None."""
    if not face_enhance:
        return None
    if config is not None and not getattr(config, "ENABLE_FACE_ENHANCEMENT", True):
        raise InvalidInput("Face enhancement is disabled on this server (REALESRGAN_ENABLE_FACE_ENHANCEMENT=false).")
    from engine.faces.restore import FaceOptions, require_restorer
    if isinstance(face_options, dict):
        face_options = FaceOptions(**face_options)
    options = (face_options or FaceOptions()).checked()
    require_restorer(model_manager, options)
    return options


def describe_error(error: BaseException) -> str:
    """The one sentence a user reads for any failure (tracebacks go to the log)."""
    if isinstance(error, (UserError, OutputWriteError)):
        return str(error)
    if isinstance(error, MemoryError):
        return "The computer ran out of memory; use a smaller image, outscale or tile size."
    log.exception("unexpected error", exc_info=error)
    return f"Unexpected error ({type(error).__name__}); see the log file for details."
