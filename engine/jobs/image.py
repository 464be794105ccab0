"""Processing entry points: validate, choose settings, load the model, upscale, restore faces,
save atomically, measure. `enhance_image_direct` is the seed's single-image function."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.faces.restore import FaceOptions, require_restorer, restore_aligned_face, restore_faces
from engine.job_config import JobConfig, Limits
from engine.jobs.entry import job_entry
from engine.jobs.naming import render_name, unused_path
from engine.models.manager import LoadedModel, ModelManager
from engine.pixels.blend import blend_pixels, intermediate_limit_message, pixel_limit_message
from engine.pixels.inference import CancelCheck
from engine.pixels.upscale import UpscaleOptions, UpscaleReport, default_pad_px, edge_px_for, upscale_pixels
from engine.request import EnhanceRequest
from utils.errors import InvalidInput, OutputError
from utils.files import OutputWriteError
from utils.gpu import GPUDetector
from utils.image_formats import auto_output_format
from utils.images import DecodedImage, pillow_to_array, read_image, save_image
from utils.metrics import calculate_image_metrics
from utils.progress import with_prefix
from utils.validation import sanitize_filename, validate_pil_image

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]
ImageInput = str | Path | Image.Image | np.ndarray


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
    if requested != "auto":  # one of OUTPUT_FORMATS: the request checked it
        return requested
    return auto_output_format(decoded.format, has_alpha=decoded.has_alpha, bit_depth=decoded.bit_depth,
                              lossy_source=decoded.lossy)


def tile_setting(request: EnhanceRequest) -> int | None:
    """The request's tile as `UpscaleOptions` takes it: None for automatic, 0 for the whole image."""
    if request.tile == 0:
        return None if request.auto_tile else 0
    return request.tile


def image_defaults(config: JobConfig) -> EnhanceRequest:
    return EnhanceRequest(model=config.default_model or EnhanceRequest.model, precision=config.precision)


@job_entry("image", image_defaults)
def enhance_image_direct(image: ImageInput, request: EnhanceRequest, *, model_manager: ModelManager,
                         config: JobConfig, output_dir: str | Path | None = None, output_name: str | None = None,
                         on_progress: ProgressFn | None = None, should_cancel: CancelCheck | None = None,
                         save: bool = True) -> EnhanceResult:
    """Upscale one image as `request` says and (when `save`) write it to
    `output_dir/<stem>_<suffix>.<ext>` atomically.

    Called the seed's way too: `enhance_image_direct(image, model_name, scale, model_manager=...,
    tile=..., fp32=..., face_enhance=...)` (see `engine/jobs/entry.py`); `history=` records the call.
    The ICC profile and EXIF (orientation reset, since it was applied) are kept unless
    `strip_metadata`. `name_template` ({stem}, {model}, {scale}, {ext}, {date}) replaces the
    `<stem>_<suffix>.<ext>` name; with `overwrite` off an existing file gets a " (2)" twin.
    `blend_model` mixes a second model's upscale in, `blend_weight` being its visibility (0..1);
    `double_pass` runs the model(s) over their own output, so the result is `outscale` squared.
    Raises a `UserError` subclass with a one-sentence message for anything the user can fix.
    """
    started = time.perf_counter()
    limits = config.limits
    decoded, source, source_bytes = load_input(image, limits)
    outscale = request.outscale_for(decoded.width, decoded.height)
    too_large = pixel_limit_message(decoded.width, decoded.height, outscale, request.double_pass, limits.max_output_pixels)
    if too_large:
        raise InvalidInput(too_large)
    fmt = choose_format(request.output_format, decoded, source)
    if save and output_dir is None:
        output_dir = config.output_dir
    if decoded.frames > 1:
        log.info("%s is animated (%d frames); using its first frame", source or "input", decoded.frames)

    face_opts = prepare_faces(request, model_manager, config)
    pixels_in = decoded.pixels
    if face_opts is not None and face_opts.aligned:
        pixels_in = restore_aligned_face(pixels_in, model_manager=model_manager, gpu_id=request.device,
                                         options=face_opts)

    def load_step(done: int, total: int, note: str) -> None:
        if on_progress:
            on_progress(0, 1, note)

    def load(name: str):
        return model_manager.load_model(name, request.device, request.fp32, denoise_strength=request.denoise_strength,
                                        on_progress=load_step)

    def options_for(loaded) -> UpscaleOptions:
        return UpscaleOptions(outscale=outscale, tile_px=tile_setting(request), pad_px=pad_px(request, config, loaded),
                              alpha_upsampler=request.alpha_upsampler,  # type: ignore[arg-type]
                              memory_reserve=config.memory_reserve, memory_share=config.memory_share)

    def run(loaded, label: str) -> tuple[np.ndarray, UpscaleReport]:
        return run_passes(loaded, pixels_in, options_for(loaded), 2 if request.double_pass else 1, label=label,
                          on_progress=on_progress, should_cancel=should_cancel)

    model = load(request.model)
    second = load(request.blend_model) if request.blend_model else None
    for loaded in filter(None, (model, second)):
        border = 2 * edge_px_for(options_for(loaded))  # the mirrored border goes through the model too
        too_large = intermediate_limit_message(decoded.width + border, decoded.height + border, loaded.scale,
                                               outscale, request.double_pass, limits.max_output_pixels)
        if too_large:
            raise InvalidInput(too_large)
    try:
        pixels, report = run(model, model.name if second else "")
        if second is not None:
            second_pixels, _ = run(second, second.name)
            pixels = blend_pixels(pixels, second_pixels, request.blend_weight)
        faces = 1 if face_opts is not None and face_opts.aligned else 0
        if face_opts is not None and not face_opts.aligned:
            if on_progress:
                on_progress(report.tiles, report.tiles, "restoring faces")
            pixels, faces = restore_faces(decoded.pixels, pixels, model_manager=model_manager, gpu_id=request.device,
                                          options=face_opts, should_cancel=should_cancel)
    finally:
        if config.clear_device_cache and model.device.type != "cpu":
            GPUDetector.clear_gpu_cache(model.device.index)

    output_path, output_bytes = None, None
    if save:
        stem = sanitize_filename(output_name or (source.stem if source else "image"))
        if request.name_template:
            name = render_name(request.name_template, stem=stem, model=model.name, scale=outscale, ext=fmt)
        else:
            name = f"{stem}_{sanitize_filename(request.suffix, 'out')}.{fmt}"
        output_path = Path(output_dir) / name  # type: ignore[arg-type]
        if not request.overwrite:
            output_path = unused_path(output_path)
        try:
            save_image(output_path, pixels, fmt, quality=request.quality,  # type: ignore[arg-type]
                       icc_profile=None if request.strip_metadata else decoded.icc_profile,
                       exif=None if request.strip_metadata else decoded.exif)
        except OutputWriteError as error:
            raise OutputError(str(error)) from None
        output_bytes = output_path.stat().st_size
    seconds = time.perf_counter() - started
    metrics = calculate_image_metrics(decoded.pixels, pixels, original_bytes=source_bytes, enhanced_bytes=output_bytes)
    described = describe_models(model.name, second.name if second else None, request.blend_weight,
                                request.double_pass)
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
                on_progress(done, total, with_prefix(prefix, note))
        pixels, this_report = upscale_pixels(model, pixels, options, on_progress=staged, should_cancel=should_cancel)
        report = report or this_report
    return pixels, report  # type: ignore[return-value]


def describe_models(first: str, second: str | None, weight: float, double_pass: bool) -> str:
    """E.g. "RealESRGAN_x4plus 70% + realesr-animevideov3 30%, double pass"."""
    text = f"{first} {round(100 * (1 - weight))}% + {second} {round(100 * weight)}%" if second else first
    return f"{text}, double pass" if double_pass else text


def prepare_faces(request: EnhanceRequest, model_manager: ModelManager, config: JobConfig) -> FaceOptions | None:
    """The request's checked face options when face enhancement is on (its weights resolved before
    any upscaling, so a missing file fails fast), else None."""
    if not request.face_enhance:
        return None
    if not config.faces_enabled:
        raise InvalidInput("Face enhancement is disabled on this server (REALESRGAN_ENABLE_FACE_ENHANCEMENT=false).")
    options = request.face_options()
    require_restorer(model_manager, options)
    return options


def pad_px(request: EnhanceRequest, config: JobConfig, model: LoadedModel) -> int:
    """The tile overlap: the request's, else the server's, else the architecture's own."""
    for pad in (request.tile_pad, config.tile_pad):
        if pad is not None:
            return pad
    return default_pad_px(model.architecture)
