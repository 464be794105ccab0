"""Image tab: upload, analysis with recommendations, manual controls, enhance, before/after.

Module-level handlers first (plain functions of values, tested without a browser), then `render()`
(the layout) and `listen()` (the events). Each setting's widget is registered under its
`EnhanceRequest` field name, so a new setting is a field, its widget here and its CLI flag.
"""
from __future__ import annotations

import logging
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from engine.jobs.image import enhance_image_direct
from engine.models.registry import FACE_RESTORERS
from engine.request import EnhanceRequest, parse_size
from ui.formatting import (FORMATS, metrics_rows, model_choices, recommendation_markdown,
                           restorer_choices, result_size_markdown, slider_pair)
from ui.services import (CANCELLED_NOTE, CancelToken, Services, device_dropdown, device_of, named_handler,
                         user_error)
from ui.tabs import image_set
from ui.widgets import ModelLists, model_note_box, on_page_load, slider_zoom
from utils.errors import UserError
from utils.images import ACCEPTED_EXTENSIONS, read_image, to_pil_preview

DENOISE_MODEL = "realesr-general-x4v3"
# The /enhance_image API's names for the settings it took before EnhanceRequest existed, in their
# order: a public interface (add parameters, never rename). A setting added since keeps its field's
# name and comes after `device_name`.
API_NAMES = {"model": "model_name", "outscale": "scale", "tile": "tile_px", "precision": "precision_value",
             "face_enhance": "face", "face_restorer": "restorer", "face_fidelity": "fidelity",
             "denoise_strength": "denoise_strength", "alpha_upsampler": "alpha_mode", "output_format": "fmt",
             "quality": "quality_value", "strip_metadata": "strip", "blend_model": "second_model",
             "blend_weight": "second_visibility", "double_pass": "double"}
ALPHA_CHOICES = [("With the model", "realesrgan"), ("Smooth (bicubic)", "bicubic")]
PRECISION_CHOICES = [("Automatic (fastest)", "auto"), ("Exact (fp32)", "fp32")]
SIZE_MODES = [("Enlarge by", "scale"), ("Width", "width"), ("Height", "height"), ("Fit within", "fit")]
NO_SECOND_MODEL = "none"
RESTORER_INFO = "CodeFormer may be used for non-commercial purposes only (its S-Lab licence)"
FIDELITY_INFO = ("0 = fully restored, 1 = closest to the original face. GFPGAN and RestoreFormer mix the "
                 "original face back in; CodeFormer takes it as its fidelity weight w (higher keeps more of "
                 "the person's own features)")
log = logging.getLogger(__name__)


@dataclass
class ImageControls:
    """The Image tab's setting widgets by `EnhanceRequest` field name (a preset, a recommendation
    or a history job fills them; Enhance reads them)."""
    by_field: dict[str, Any] = field(default_factory=dict)
    face_check: Callable[[], bool] = lambda: True  # False: no face restorer here, so nothing may tick it

    @property
    def face_ok(self) -> bool:
        """Asked each time: a face restorer downloaded from the System tab makes it True."""
        return self.face_check()
    status: Any = None  # the status line under Enhance, where a job run again from History is told


    def add(self, name: str, component):
        if name not in EnhanceRequest.__dataclass_fields__:
            raise ValueError(f"{name} is not an EnhanceRequest field")
        self.by_field[name] = component
        return component

    def as_list(self) -> list:
        return list(self.by_field.values())

    def names(self) -> list[str]:
        return list(self.by_field)


# -- handlers: values in, values out -----------------------------------------------------------------

def control_value(name: str, value: Any, available: list[str] | None = None, face_ok: bool = True) -> Any:
    """A request field's value as its widget shows it: no second model (or one no longer
    `available`) is the dropdown's "none"; face enhancement stays off while no face restorer is
    available (its checkbox is disabled, so the user could not untick it)."""
    if name == "blend_model":
        return value if value and (available is None or value in available) else NO_SECOND_MODEL
    if name == "face_enhance":
        return bool(value) and face_ok
    return value


def request_value(name: str, value: Any) -> Any:
    """A widget's value as its request field takes it."""
    if name == "blend_model":
        return "" if value in (None, NO_SECOND_MODEL) else value
    return value


def values_for(names: list[str], request: EnhanceRequest, available: list[str] | None = None,
               face_ok: bool = True) -> list:
    """The widgets' values (in `names` order) for `request`."""
    return [control_value(name, getattr(request, name), available, face_ok) for name in names]


def request_from(names: list[str], values: list, base: EnhanceRequest | None = None) -> EnhanceRequest:
    """The request the widgets' `values` (in `names` order) describe; one sentence if one is wrong."""
    return EnhanceRequest.from_dict({name: request_value(name, value) for name, value in zip(names, values)},
                                    base=base)


def fill_image_tab(values: list, note: str) -> list:
    """The outputs that put `values` in the Image tab's widgets, switch to that tab and show `note`
    (a preset applied, a job run again)."""
    return [*values, gr.Tabs(selected="image"), note]


def face_status(services: Services) -> tuple[bool, str]:
    if not services.config.ENABLE_FACE_ENHANCEMENT:
        return False, "Face enhancement is disabled on this server."
    if any(services.manager.is_available(name) for name in FACE_RESTORERS):
        return True, "Restores faces after upscaling."
    if services.config.ALLOW_DOWNLOADS:
        return False, ("Unavailable until a face restorer is downloaded: choose GFPGANv1.4 (333 MB) in the "
                       "System tab, press Download, then reload this page.")
    return False, ("Unavailable: no face restorer is on this server and downloads are off; ask the "
                   "administrator to put GFPGANv1.4.pth in the weights folder.")


def face_updates(services: Services) -> list:
    """The face checkbox, restorer list and fidelity as the weights folder is now: usable once a
    face restorer is here (a download in the System tab), unticked and greyed while none is."""
    ok, info = face_status(services)
    restorers = restorer_choices(services.manager.list_models(("face",)))
    tick = {} if ok else {"value": False}
    return [gr.update(interactive=ok, info=info, elem_classes=[] if ok else ["unavailable"], **tick),
            gr.update(choices=restorers, interactive=ok), gr.update(interactive=ok)]


def analyze(services: Services, path: str | None):
    """(analysis, recommendation text, preview, apply button state, input size) for an upload."""
    if not path:
        return None, "Upload an image to get recommended settings.", None, gr.update(interactive=False), None
    config = services.config
    try:
        decoded = read_image(path, max_bytes=config.MAX_IMAGE_BYTES, max_pixels=config.MAX_IMAGE_PIXELS)
        result = services.enhancer.get_intelligent_settings(decoded.pixels)
    except Exception as error:  # every failure ends in one sentence (the log has the traceback)
        raise user_error(error) from None
    return (result, recommendation_markdown(result), to_pil_preview(decoded.pixels, 1024),
            gr.update(interactive=True), [decoded.width, decoded.height])


def recommended_values(result: dict | None, face_ok: bool) -> tuple:
    """(model, outscale, tile, precision, face enhancement, denoise) from an analysis."""
    if not result:
        raise gr.Error("Upload an image first.", print_exception=False)
    s = result["settings"]
    return (s["model"], s["scale"], s["tile"], "fp32" if s["fp32"] else "auto", s["face_enhance"] and face_ok,
            gr.update(value=s["denoise_strength"], visible=s["model"] == DENOISE_MODEL))


def enhance(services: Services, names: list[str], path: str | None, values: list, token: CancelToken,
            device_name: str | None, request: gr.Request, progress) -> tuple:
    """Run the job the widgets describe; remember its settings for the next visit."""
    if not path:
        raise gr.Error("Upload an image first.", print_exception=False)

    def job() -> EnhanceRequest:
        return request_from(names, values, base=services.settings.defaults).with_changes(device=device_of(device_name))
    done, result = services.run_file_job(enhance_image_direct, path, job, kind="image", token=token, request=request,
                                         progress=progress)
    if result is None:  # cancelled: the last result stays, the status says so
        return gr.update(), gr.update(), gr.update(), f"**{CANCELLED_NOTE}**"
    try:  # remembered for the next start; failing to remember must not fail the result
        services.settings.save_settings(done.with_changes(device=None))
    except OSError as error:
        log.warning("could not save the last used settings: %s", error)
    return (str(result.output_path), slider_pair(result.original, result.image), metrics_rows(result.metrics),
            f"**{result.status}.** Saved as `{result.output_path.name}`." + local_folder_note(services,
                                                                                         result.output_path))


def local_folder_note(services: Services, output_path: Path) -> str:
    """Where the result lies, for opening it in a file manager: only on a server that listens on this
    machine alone and has no logins (anyone else must not learn server paths)."""
    config = services.config
    if config.SERVER_NAME not in ("127.0.0.1", "localhost", "::1") or config.LOGINS or config.SHARE:
        return ""
    return f" Folder on this computer: `{Path(output_path).parent}`"


def size_text(mode: str, width, height) -> str:
    """The `size` field for the size widgets: "" (enlarge by the outscale), "1920x", "x1080" or
    "1920x1080" (fit within); "" while a needed side is not filled in."""
    sides = {"width": (width, None), "height": (None, height), "fit": (width, height)}.get(mode)
    if sides is None or any(side is None for side, needed in zip(sides, (mode != "height", mode != "width"))
                            if needed) or any(side is not None and int(side) < 1 for side in sides):
        return ""
    return "x".join("" if side is None else str(int(side)) for side in sides)


def size_fields(text: str | None) -> tuple[str, int | None, int | None]:
    """(mode, width, height) that the size widgets show for the `size` field's `text`."""
    try:
        width, height = parse_size(text) if text else (None, None)
    except UserError:
        return "scale", None, None
    mode = {(False, False): "scale", (True, False): "width", (False, True): "height"}.get(
        (width is not None, height is not None), "fit")
    return mode, width, height


def size_visibility(mode: str) -> tuple:
    """Updates for (outscale, width, height): only the numbers the mode needs."""
    return (gr.update(visible=mode == "scale"), gr.update(visible=mode in ("width", "fit")),
            gr.update(visible=mode in ("height", "fit")))


def take_paste(services: Services, path: str | None):
    """A pasted image copied to a file of its own (the clipboard's temp file is shared)."""
    if not path:
        return gr.update()
    suffix = Path(path).suffix.lower() if Path(path).suffix.lower() in ACCEPTED_EXTENSIONS else ".png"
    target = services.config.GRADIO_TEMP_DIR / f"pasted-{secrets.token_hex(8)}" / f"pasted{suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)
    return str(target)


# -- render: the layout --------------------------------------------------------------------------------

def size_widgets(size: str):
    """(mode, width, height): how big the result is, as a user thinks of it; they write the `size` field."""
    mode, width, height = size_fields(size)
    mode_radio = gr.Radio(SIZE_MODES, value=mode, label="Result size", elem_id="size-mode",
                          info="Enlarge by a factor, or to an exact width, height, or to fit within both "
                               "(the proportions are kept)")
    with gr.Row():
        width_box = gr.Number(value=width, precision=0, minimum=1, label="Width (px)", elem_id="size-width",
                              visible=mode in ("width", "fit"))
        height_box = gr.Number(value=height, precision=0, minimum=1, label="Height (px)", elem_id="size-height",
                               visible=mode in ("height", "fit"))
    return mode_radio, width_box, height_box


@dataclass
class ImageTab:
    controls: ImageControls
    upload: Any
    paste: Any
    preview: Any
    recommendation: Any
    apply_button: Any
    analysis_json: Any
    input_size: Any
    cancel_token: Any
    device: Any
    size_note: Any
    enhance_button: Any
    cancel_button: Any
    status: Any
    slider: Any
    download: Any
    metrics: Any
    size_mode: Any = None
    size_width: Any = None
    size_height: Any = None
    several: Any = None  # ui.tabs.image_set.ImageSet


def render(services: Services, defaults: EnhanceRequest, model_lists: ModelLists | None = None) -> ImageTab:
    face_ok, face_info = face_status(services)
    controls = ImageControls(face_check=lambda: face_status(services)[0])
    add = controls.add
    cancel_token = gr.State(CancelToken())
    input_size = gr.State(None)
    w: dict[str, Any] = {}  # the setting widgets by request field, laid out below, registered at the end
    choices = model_choices(services.manager.list_models(("upscaler",)))
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            upload = gr.File(label="Image (drop, click or choose; PNG, JPEG, WebP, TIFF, AVIF, BMP, GIF and more)",
                             file_types=list(ACCEPTED_EXTENSIONS), type="filepath", elem_id="image-upload",
                             height=120)
            several = image_set.render()
            with gr.Accordion("Paste an image from the clipboard", open=False):
                paste = gr.Image(sources=["clipboard"], type="filepath", image_mode=None, label="Paste",
                                 show_label=False, height=160)
            preview = gr.Image(label="Input", interactive=False, format="png", height=240, elem_id="input-preview")
            recommendation = gr.Markdown("Upload an image to get recommended settings.", elem_id="recommendation")
            apply_button = gr.Button("Apply recommendations", interactive=False, elem_id="apply-recommendations",
                                     variant="secondary", size="md")
            analysis_json = gr.JSON(label="Analysis", visible=False)
        with gr.Column(scale=4):
            w["model"] = gr.Dropdown(choices, value=defaults.model, label="Model", elem_id="model",
                                     info="Photos: RealESRGAN_x4plus; drawings and anime: the anime models")
            model_note = model_note_box(services, w["model"], "model-note")
            size_mode, size_width, size_height = size_widgets(defaults.size)
            w["outscale"] = gr.Slider(1, 8, value=defaults.outscale, step=0.5, label="Enlarge by (times)",
                                      elem_id="image-outscale", visible=size_mode.value == "scale",
                                      info="outscale; 4 turns 500 px into 2000 px")
            w["size"] = gr.Textbox(value=defaults.size, label="Exact size", placeholder="e.g. 1920x or x1080",
                                   info="WIDTHx, xHEIGHT, or WIDTHxHEIGHT to fit within; the aspect is kept",
                                   elem_id="image-size", visible=False)
            w["denoise_strength"] = gr.Slider(0, 1, value=defaults.denoise_strength, step=0.05,
                                              label="Noise removal", visible=defaults.model == DENOISE_MODEL,
                                              info="denoise strength: 0 keeps grain, 1 smooths it away")
            w["face_enhance"] = gr.Checkbox(value=defaults.face_enhance and face_ok, label="Restore faces",
                                            info=face_info, interactive=face_ok, elem_id="face-enhance",
                                            elem_classes=[] if face_ok else ["unavailable"])
            size_note = gr.Markdown(elem_id="size-note")
            with gr.Row():
                enhance_button = gr.Button("Enhance", variant="primary", elem_id="enhance", scale=3)
                cancel_button = gr.Button("Cancel", variant="secondary", elem_id="cancel", scale=1, size="md")
            status = gr.Markdown(elem_id="status")
            image_set.phone_button(several)
            with gr.Accordion("More settings", open=False, elem_id="more-settings"):
                with gr.Row():
                    w["face_restorer"] = gr.Dropdown(restorer_choices(services.manager.list_models(("face",))),
                                                     value=defaults.face_restorer, label="Face restorer",
                                                     interactive=face_ok, elem_id="face-restorer",
                                                     info=RESTORER_INFO)
                    w["face_fidelity"] = gr.Slider(0, 1, value=defaults.face_fidelity, step=0.05,
                                                   label="Keep the original face", interactive=face_ok,
                                                   elem_id="face-fidelity", info=FIDELITY_INFO)
                with gr.Row():
                    w["output_format"] = gr.Dropdown(list(FORMATS), value=defaults.output_format, label="File type",
                                                     info="auto keeps the input's type")
                    w["quality"] = gr.Slider(1, 100, value=defaults.quality, step=1, label="Quality (JPEG, WebP)")
                w["strip_metadata"] = gr.Checkbox(value=defaults.strip_metadata, elem_id="strip-metadata",
                                                  label="Remove camera details and location for privacy",
                                                  info="strips EXIF metadata and the colour profile")
                w["alpha_upsampler"] = gr.Radio(ALPHA_CHOICES, value=defaults.alpha_upsampler,
                                                label="Transparent parts",
                                                info="alpha channel: with the model (sharper) or bicubic (smoother)")
                w["tile"] = gr.Number(value=defaults.tile, precision=0, minimum=0, maximum=4096, elem_id="tile",
                                      label="Piece size in pixels (0 = automatic)",
                                      info="tile: large images are upscaled in pieces; smaller pieces use less memory")
                w["precision"] = gr.Radio(PRECISION_CHOICES, value=defaults.precision, label="Number precision",
                                          info="auto: fp16 on a GPU, bf16 on CPUs that support it (faster); "
                                               "exact: fp32 (slower)")
                device = device_dropdown(services, "device")
            with gr.Accordion("Blend two models, double pass", open=False, elem_id="blend"):
                with gr.Row():
                    w["blend_model"] = gr.Dropdown(
                        [("None", NO_SECOND_MODEL), *choices], elem_id="blend-model", label="Second model",
                        value=control_value("blend_model", defaults.blend_model, [c[1] for c in choices]),
                        info="The result mixes both models' upscales")
                    w["blend_weight"] = gr.Slider(0, 1, value=defaults.blend_weight, step=0.05,
                                                  elem_id="blend-weight", label="Second model's visibility")
                w["double_pass"] = gr.Checkbox(value=defaults.double_pass, elem_id="double-pass",
                                               label="Double pass: run the model on its own result (the outscale "
                                               "applies twice, x4 gives x16; slow)")
    for name, widget in w.items():  # the /enhance_image API's order comes from API_NAMES, not from here
        add(name, widget)
    controls.status = status
    if model_lists is not None:
        model_lists.add(w["model"], note=model_note)
        model_lists.add(w["blend_model"], lambda rows: [("None", NO_SECOND_MODEL), *model_choices(rows)])
        model_lists.add_others([w["face_enhance"], w["face_restorer"], w["face_fidelity"]],
                               lambda: face_updates(services))
    slider = gr.ImageSlider(label="Before / after", type="pil", format="png", interactive=False,
                            elem_id="result-slider", max_height=720)
    slider_zoom("result-slider")
    with gr.Row():
        download = gr.File(label="Full-resolution result", interactive=False, elem_id="result-file")
        metrics = gr.Dataframe(headers=["Metric", "Value"], label="Details", interactive=False, elem_id="metrics")
    from ui.tabs import compare
    compare.build(services, upload, controls.by_field["model"], model_lists)
    return ImageTab(controls, upload, paste, preview, recommendation, apply_button, analysis_json, input_size,
                    cancel_token, device, size_note, enhance_button, cancel_button, status, slider, download, metrics,
                    size_mode, size_width, size_height, several)


# -- listen: the events --------------------------------------------------------------------------------

def listen(services: Services, tab: ImageTab) -> None:
    config = services.config
    fields = tab.controls.by_field
    names = tab.controls.names()

    def on_upload(path):
        return analyze(services, path)

    def on_size(size, scale, double, exact):
        return result_size_markdown(size, scale, double, config.MAX_OUTPUT_PIXELS, exact)

    def on_size_widgets(mode, width, height):
        return size_text(mode, width, height), *size_visibility(mode)

    def on_size_text(text, mode, width, height):
        if text == size_text(mode, width, height):  # our own echo: leave the user's typing alone
            return gr.update(), gr.update(), gr.update(), gr.update(), gr.update(), gr.update()
        new_mode, new_width, new_height = size_fields(text)
        return new_mode, new_width, new_height, *size_visibility(new_mode)

    first = [name for name in API_NAMES if name in fields]
    later = [name for name in names if name not in API_NAMES]

    def on_enhance(arguments: dict):
        values = [arguments[API_NAMES.get(name, name)] for name in names]
        return enhance(services, names, arguments["path"], values, arguments["token"], arguments["device_name"],
                       arguments["request"], arguments["progress"])

    def on_cancel(token: CancelToken):
        token.cancel()
        gr.Info("Cancelling…")

    size_inputs = [tab.input_size, fields["outscale"], fields["double_pass"], fields["size"]]
    size_boxes = [tab.size_mode, tab.size_width, tab.size_height]
    for event in (tab.size_mode.input, tab.size_width.input, tab.size_height.input):
        event(on_size_widgets, size_boxes, [fields["size"], fields["outscale"], tab.size_width, tab.size_height],
              api_name=False, queue=False, show_progress="hidden")
    fields["size"].change(on_size_text, [fields["size"], *size_boxes],
                          [*size_boxes, fields["outscale"], tab.size_width, tab.size_height], api_name=False,
                          queue=False, show_progress="hidden")
    tab.upload.change(on_upload, tab.upload, [tab.analysis_json, tab.recommendation, tab.preview, tab.apply_button,
                                              tab.input_size],
                      api_name="analyze_image", concurrency_id="analysis", concurrency_limit=2,
                      show_progress_on=[tab.preview]).then(  # a bad file's badge on the picture, not the text
        on_size, size_inputs, tab.size_note, api_name=False)
    for name in ("outscale", "double_pass", "size"):
        fields[name].change(on_size, size_inputs, tab.size_note, api_name=False, queue=False)
    tab.paste.change(lambda path: take_paste(services, path), tab.paste, tab.upload, api_name=False)
    tab.apply_button.click(lambda result: recommended_values(result, tab.controls.face_ok), tab.analysis_json,
                           [fields[n] for n in ("model", "outscale", "tile", "precision", "face_enhance",
                                                "denoise_strength")], api_name=False)
    fields["model"].change(lambda m: gr.update(visible=m == DENOISE_MODEL), fields["model"],
                           fields["denoise_strength"], api_name=False)
    def on_load():  # the remembered settings, then Enhance marked "settings-loaded" (what a script can wait for)
        values = values_for(names, services.remembered(), services.manager.upscaler_names(), tab.controls.face_ok)
        return [*values, gr.update(elem_classes=["settings-loaded"])]
    on_page_load(on_load, None, [*tab.controls.as_list(), tab.enhance_button])
    tab.enhance_button.click(
        named_handler("enhance_image", ["path", *(API_NAMES[n] for n in first), "token", "device_name", *later],
                      on_enhance),
        [tab.upload, *(fields[n] for n in first), tab.cancel_token, tab.device, *(fields[n] for n in later)],
        [tab.download, tab.slider, tab.metrics, tab.status],
        api_name="enhance_image", concurrency_id="device", concurrency_limit=config.CONCURRENCY_LIMIT,
        show_progress_on=[tab.status])  # one bar, under the Enhance button
    tab.cancel_button.click(on_cancel, tab.cancel_token, None, queue=False, api_name=False)
    image_set.listen(services, tab.several, tab)


def build(services: Services, defaults: EnhanceRequest,
          model_lists: ModelLists | None = None) -> tuple[ImageControls, Any]:
    tab = render(services, defaults, model_lists)
    listen(services, tab)
    return tab.controls, tab.upload
