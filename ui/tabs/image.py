"""Image tab: upload, analysis with recommendations, manual controls, enhance, before/after."""
from __future__ import annotations

import dataclasses
import logging
import shutil
import secrets
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from engine.faces.restore import FaceOptions
from engine.jobs.image import enhance_image_direct
from engine.models.registry import FACE_RESTORERS
from engine.settings_manager import EnhanceSettings
from ui.formatting import (FORMATS, PRECISIONS, model_choices, recommendation_markdown, result_size_markdown,
                           slider_pair)
from ui.services import CancelToken, Services, device_dropdown, device_of, progress_adapter, user_error
from utils.images import ACCEPTED_EXTENSIONS, read_image, to_pil_preview
from utils.validation import sanitize_filename

DENOISE_MODEL = "realesr-general-x4v3"
NO_SECOND_MODEL = "none"
log = logging.getLogger(__name__)


@dataclass
class ImageControls:
    """The components a preset or a recommendation fills, in `EnhanceSettings` field order."""
    model: gr.Dropdown
    outscale: gr.Slider
    tile: gr.Number
    precision: gr.Radio
    face_enhance: gr.Checkbox
    face_restorer: gr.Dropdown
    face_fidelity: gr.Slider
    denoise: gr.Slider
    alpha: gr.Radio
    output_format: gr.Dropdown
    quality: gr.Slider
    strip_metadata: gr.Checkbox
    blend_model: gr.Dropdown
    blend_weight: gr.Slider
    double_pass: gr.Checkbox

    def as_list(self) -> list:
        return [getattr(self, f.name) for f in dataclasses.fields(self)]


def second_model_value(name: str, available: list[str] | None = None) -> str:
    """The second-model dropdown's value: `name`, or none when it is unset or no longer available."""
    return name if name and (available is None or name in available) else NO_SECOND_MODEL


def settings_to_values(s: EnhanceSettings, available: list[str] | None = None) -> list:
    """The controls' values for `s`; a second model no longer `available` becomes none."""
    second = second_model_value(s.blend_model, available)
    return [s.model, s.outscale, s.tile, "fp32" if s.fp32 else "auto", s.face_enhance, s.face_restorer,
            s.face_fidelity, s.denoise_strength, s.alpha_upsampler, s.output_format, s.quality, s.strip_metadata,
            second, s.blend_weight, s.double_pass]


def values_to_settings(values: list) -> EnhanceSettings:
    (model, outscale, tile, precision, face, restorer, fidelity, denoise, alpha, fmt, quality, strip, second,
     visibility, double) = values
    return EnhanceSettings(model=model, outscale=float(outscale), tile=int(tile or 0), fp32=precision == "fp32",
                           face_enhance=bool(face), face_restorer=restorer, face_fidelity=float(fidelity),
                           denoise_strength=float(denoise), alpha_upsampler=alpha, output_format=fmt,
                           quality=int(quality), strip_metadata=bool(strip),
                           blend_model="" if second in (None, NO_SECOND_MODEL) else second,
                           blend_weight=float(visibility), double_pass=bool(double))


def face_status(services: Services) -> tuple[bool, str]:
    if not services.config.ENABLE_FACE_ENHANCEMENT:
        return False, "Face enhancement is disabled on this server."
    if services.manager.is_available("GFPGANv1.4") or services.manager.is_available("RestoreFormer") \
            or services.manager.is_available("GFPGANv1.3"):
        return True, "Restores faces after upscaling."
    if services.config.ALLOW_DOWNLOADS:
        return False, ("Unavailable until a face restorer is downloaded: choose GFPGANv1.4 (333 MB) in the "
                       "System tab, press Download, then reload this page.")
    return False, ("Unavailable: GFPGANv1.4.pth is not in the weights folder and downloads are off. "
                   "Download it from https://github.com/TencentARC/GFPGAN/releases and put it in "
                   f"{services.config.WEIGHTS_DIR}.")


def build(services: Services, defaults: EnhanceSettings) -> tuple[ImageControls, gr.File]:
    config = services.config
    cancel_token = gr.State(CancelToken())
    input_size = gr.State(None)
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            upload = gr.File(label="Image (drop, click or choose; PNG, JPEG, WebP, TIFF, AVIF, BMP, GIF and more)",
                             file_types=list(ACCEPTED_EXTENSIONS),
                             type="filepath", elem_id="image-upload")
            with gr.Accordion("Paste an image from the clipboard", open=False):
                paste = gr.Image(sources=["clipboard"], type="filepath", image_mode=None, label="Paste",
                                 show_label=False, height=160)
            preview = gr.Image(label="Input", interactive=False, format="png", height=320, elem_id="input-preview")
            with gr.Group():
                recommendation = gr.Markdown("Upload an image to get recommended settings.",
                                             elem_id="recommendation")
                apply_button = gr.Button("Apply recommendations", interactive=False, elem_id="apply-recommendations")
            analysis_json = gr.JSON(label="Analysis", visible=False)
        with gr.Column(scale=4):
            face_ok, face_info = face_status(services)
            choices = model_choices(services.manager.list_models(("upscaler",)))
            model = gr.Dropdown(choices, value=defaults.model, label="Model", elem_id="model")
            outscale = gr.Slider(1, 8, value=defaults.outscale, step=0.5, label="Outscale", elem_id="image-outscale")
            with gr.Row():
                tile = gr.Number(value=defaults.tile, precision=0, minimum=0, maximum=4096,
                                 label="Tile (0 = automatic)")
                precision = gr.Radio(list(PRECISIONS), value="fp32" if defaults.fp32 else "auto", label="Precision",
                                     info="auto: fp16 on GPU, bf16 on CPUs that support it")
                device = device_dropdown(services, "device")
            face_enhance = gr.Checkbox(value=defaults.face_enhance and face_ok, label="Face enhancement",
                                       info=face_info, interactive=face_ok, elem_id="face-enhance")
            with gr.Row():
                face_restorer = gr.Dropdown(list(FACE_RESTORERS), value=defaults.face_restorer, label="Restorer")
                face_fidelity = gr.Slider(0, 1, value=defaults.face_fidelity, step=0.05,
                                          label="Face fidelity (1 = keep the original face)")
            denoise = gr.Slider(0, 1, value=defaults.denoise_strength, step=0.05, label="Denoise strength",
                                visible=defaults.model == DENOISE_MODEL)
            with gr.Row():
                alpha = gr.Radio(["realesrgan", "bicubic"], value=defaults.alpha_upsampler, label="Alpha channel")
                output_format = gr.Dropdown(list(FORMATS), value=defaults.output_format, label="Format")
                quality = gr.Slider(1, 100, value=defaults.quality, step=1, label="JPEG/WebP quality")
            strip_metadata = gr.Checkbox(value=defaults.strip_metadata, elem_id="strip-metadata",
                                         label="Strip metadata (EXIF, colour profile) for privacy")
            with gr.Accordion("Blend two models, double pass", open=False, elem_id="blend"):
                with gr.Row():
                    blend_model = gr.Dropdown([("None", NO_SECOND_MODEL), *choices], elem_id="blend-model",
                                              value=second_model_value(defaults.blend_model, [c[1] for c in choices]),
                                              label="Second model", info="The result mixes both models' upscales")
                    blend_weight = gr.Slider(0, 1, value=defaults.blend_weight, step=0.05, elem_id="blend-weight",
                                             label="Second model's visibility")
                double_pass = gr.Checkbox(value=defaults.double_pass, elem_id="double-pass",
                                          label="Double pass: run the model on its own result (the outscale applies "
                                          "twice, x4 gives x16; slow)")
            size_note = gr.Markdown(elem_id="size-note")
            with gr.Row():
                enhance_button = gr.Button("Enhance", variant="primary", elem_id="enhance")
                cancel_button = gr.Button("Cancel", variant="stop", elem_id="cancel")
    from ui.tabs import compare
    compare.build(services, upload, model)
    status = gr.Markdown(elem_id="status")
    slider = gr.ImageSlider(label="Before / after", type="pil", format="png", interactive=False,
                            elem_id="result-slider", max_height=720)
    with gr.Row():
        download = gr.File(label="Full-resolution result", interactive=False, elem_id="result-file")
        metrics = gr.Dataframe(headers=["Metric", "Value"], label="Metrics", interactive=False, elem_id="metrics")

    controls = ImageControls(model, outscale, tile, precision, face_enhance, face_restorer, face_fidelity, denoise,
                             alpha, output_format, quality, strip_metadata, blend_model, blend_weight, double_pass)

    # -- handlers: unpack, call the engine, format ------------------------------------------------
    def analyze(path):
        if not path:
            return None, "Upload an image to get recommended settings.", None, gr.update(interactive=False), None
        try:
            decoded = read_image(path, max_bytes=config.MAX_IMAGE_BYTES, max_pixels=config.MAX_IMAGE_PIXELS)
            result = services.enhancer.get_intelligent_settings(decoded.pixels)
        except Exception as error:  # every failure ends in one sentence (the log has the traceback)
            raise user_error(error) from None
        return (result, recommendation_markdown(result), to_pil_preview(decoded.pixels, 1024),
                gr.update(interactive=True), [decoded.width, decoded.height])

    def show_size(size, scale, double):
        return result_size_markdown(size, scale, double, config.MAX_OUTPUT_PIXELS)

    def apply_recommendation(result):
        if not result:
            raise gr.Error("Upload an image first.", print_exception=False)
        s = result["settings"]
        return (s["model"], s["scale"], s["tile"], "fp32" if s["fp32"] else "auto",
                s["face_enhance"] and face_ok,
                gr.update(value=s["denoise_strength"], visible=s["model"] == DENOISE_MODEL))

    def enhance(path, model_name, scale, tile_px, precision_value, face, restorer, fidelity, denoise_strength,
                alpha_mode, fmt, quality_value, strip, second_model, second_visibility, double, token: CancelToken,
                device_name, request: gr.Request, progress=gr.Progress()):
        if not path:
            raise gr.Error("Upload an image first.", print_exception=False)
        token.reset()
        try:
            with services.job_folder(request, "image") as folder:
                result = enhance_image_direct(
                    path, model_name, scale, model_manager=services.manager, config=config,
                    output_dir=folder, output_name=sanitize_filename(Path(path).stem),
                    tile=int(tile_px or 0), fp32=precision_value == "fp32", face_enhance=bool(face),
                    face_options=FaceOptions(restorer=restorer, fidelity=float(fidelity)),
                    denoise_strength=float(denoise_strength), alpha_upsampler=alpha_mode, output_format=fmt,
                    quality=int(quality_value), on_progress=progress_adapter(progress),
                    should_cancel=services.job_control(token, request), history=services.history_of(request),
                    strip_metadata=bool(strip),
                    blend_model=None if second_model in (None, "", NO_SECOND_MODEL) else second_model,
                    blend_weight=float(second_visibility), double_pass=bool(double),
                    gpu_id=device_of(device_name))
        except Exception as error:  # every failure ends in one sentence (the log has the traceback)
            raise user_error(error) from None
        try:  # remembered for the next start; failing to remember must not fail the result
            services.settings.save_settings(values_to_settings(
                [model_name, scale, tile_px, precision_value, face, restorer, fidelity, denoise_strength, alpha_mode,
                 fmt, quality_value, strip, second_model, second_visibility, double]))
        except OSError as error:
            log.warning("could not save the last used settings: %s", error)
        return (str(result.output_path), slider_pair(result.original, result.image), result.metrics_table(),
                f"**{result.status}.** Saved as `{result.output_path.name}`.")

    def stop(token: CancelToken):
        token.cancel()
        gr.Info("Cancelling after the current tile...")

    def take_paste(path):
        if not path:
            return gr.update()
        suffix = Path(path).suffix.lower() if Path(path).suffix.lower() in ACCEPTED_EXTENSIONS else ".png"
        target = config.GRADIO_TEMP_DIR / f"pasted-{secrets.token_hex(8)}" / f"pasted{suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        return str(target)

    upload.change(analyze, upload, [analysis_json, recommendation, preview, apply_button, input_size],
                  api_name="analyze_image", concurrency_id="analysis", concurrency_limit=2).then(
        show_size, [input_size, outscale, double_pass], size_note, api_name=False)
    for control in (outscale, double_pass):
        control.change(show_size, [input_size, outscale, double_pass], size_note, api_name=False, queue=False)
    paste.change(take_paste, paste, upload, api_name=False)
    apply_button.click(apply_recommendation, analysis_json,
                       [model, outscale, tile, precision, face_enhance, denoise], api_name=False)
    model.change(lambda m: gr.update(visible=m == DENOISE_MODEL), model, denoise, api_name=False)
    enhance_button.click(
        enhance, [upload, *controls.as_list(), cancel_token, device],
        [download, slider, metrics, status],
        api_name="enhance_image", concurrency_id="device", concurrency_limit=config.CONCURRENCY_LIMIT)
    cancel_button.click(stop, cancel_token, None, queue=False, api_name=False)
    return controls, upload
