"""Inside the Image tab: several images at once. A strip of thumbnails switches the image the tab works
on (analysed, enhanced and compared as one upload is); "Enhance all" runs them all as one batch job
with the tab's settings, through the Batch tab's engine call, with the results in one zip.

Module-level handlers first (plain values in, values out; tested without a browser), then `render()`
(the layout) and `listen()` (the events).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from ui.formatting import slider_pair
from ui.services import CANCELLED_NOTE, CancelToken, Services, device_of, named_handler, user_error
from ui.tabs.batch import batch_job
from utils.files import file_sha256
from utils.images import ACCEPTED_EXTENSIONS, read_image, to_pil_preview

THUMBNAIL_SIDE = 160
MAX_IMAGES = 50  # each is decoded for its thumbnail as it is added; more belong in the Batch tab
UNREADABLE_GREY = (200, 200, 200)


# -- handlers: values in, values out -----------------------------------------------------------------

def thumbnails(services: Services, paths: list[str] | None) -> list[tuple[Image.Image, str]]:
    """(thumbnail, file name) for each image, in order; a file that is no image we can read gets a
    grey tile and says so, so the strip still lines up with the files."""
    config = services.config
    shown = []
    for path in paths or []:
        name = Path(path).name
        try:
            pixels = read_image(path, max_bytes=config.MAX_IMAGE_BYTES, max_pixels=config.MAX_IMAGE_PIXELS).pixels
            shown.append((to_pil_preview(pixels, THUMBNAIL_SIDE), name))
        except Exception:  # noqa: BLE001 (any unreadable file: its tile says so, the others still show)
            shown.append((Image.new("RGB", (THUMBNAIL_SIDE, THUMBNAIL_SIDE), UNREADABLE_GREY),
                          f"{name} (cannot be read)"))
    return shown


def images_added(services: Services, paths: list[str] | None) -> tuple:
    """(the strip, the image the tab works on, "Enhance all") once files are added: the first one is
    chosen; with none, the strip hides and the tab's image stays as it is."""
    if not paths:
        return gr.update(value=[], visible=False), gr.update(), gr.update(visible=False)
    if len(paths) > MAX_IMAGES:
        raise gr.Error(f"{len(paths)} images are more than the Image tab takes at once ({MAX_IMAGES}); "
                       "use the Batch tab for more.", print_exception=False)
    return (gr.update(value=thumbnails(services, paths), visible=True), paths[0],
            gr.update(visible=len(paths) > 1, value=f"Enhance all {len(paths)} images"))


def chosen_image(paths: list[str] | None, index: int | None):
    """The file at `index` in the strip (the tab's new image), or no change when there is none."""
    if not paths or index is None or not 0 <= index < len(paths):
        return gr.update()
    return paths[index]


def enhance_all(services: Services, paths: list[str] | None, selected: str | None, job_of, token: CancelToken,
                request: gr.Request | None = None, progress=None) -> tuple:
    """(the zip of every result, the selected image's before/after, the status) for all `paths`
    enhanced with the request `job_of()` makes; one sentence if it cannot start."""
    if not paths:
        raise gr.Error("Add several images first (the box under the image).", print_exception=False)
    token.reset()
    try:
        job = job_of()
    except Exception as error:  # a wrong setting: one sentence
        raise user_error(error) from None
    result = batch_job(services, [Path(p) for p in paths], job, token, request=request, progress=progress)
    if token.is_set() and not result.items:
        return gr.update(), gr.update(), f"**{CANCELLED_NOTE}**"
    note = " (cancelled)" if len(result.items) < len(paths) else ""
    status = f"**{result.summary()}**{note}."
    if result.zip_path:
        status += f" Every result is in `{result.zip_path.name}`, ready to download."
    return (str(result.zip_path) if result.zip_path else None, selected_pair(services, result.items, selected),
            status)


def selected_pair(services: Services, items, selected: str | None):
    """The before/after of the selected image's result, or no change when it has none."""
    wanted = file_sha256(selected) if selected else None  # the tab holds its own copy of the file
    done = next((item for item in items if wanted and item.output_path and Path(item.input_path).name ==
                 Path(selected).name and file_sha256(item.input_path) == wanted), None)
    if done is None:
        return gr.update()
    limits = {"max_bytes": services.config.MAX_IMAGE_BYTES, "max_pixels": services.config.MAX_IMAGE_PIXELS}
    return slider_pair(read_image(done.input_path, **limits).pixels,
                       read_image(done.output_path, max_pixels=None).pixels)


# -- render: the layout --------------------------------------------------------------------------------

@dataclass
class ImageSet:
    files: Any
    strip: Any
    enhance_all: Any
    phone_button: Any = None  # set by `phone_button()`: picks several images where nothing is dragged


def render() -> ImageSet:
    files = gr.File(label="Several images? Drop or choose them here, then click one to work on it",
                    file_count="multiple", file_types=list(ACCEPTED_EXTENSIONS), type="filepath",
                    elem_id="image-files", height=90)
    strip = gr.Gallery(label="Your images (click one)", visible=False, interactive=False, allow_preview=False,
                       columns=8, rows=1, height=130, object_fit="contain", format="png", elem_id="image-strip")
    enhance_all_button = gr.Button("Enhance all", visible=False, elem_id="enhance-all", variant="secondary")
    return ImageSet(files, strip, enhance_all_button)


def phone_button(several: ImageSet) -> None:
    """The small "Add several images" button that stands in for the drop box on a phone (CSS shows
    one or the other by the screen's width)."""
    several.phone_button = gr.UploadButton("Add several images", file_count="multiple", size="sm",
                                           file_types=list(ACCEPTED_EXTENSIONS), type="filepath",
                                           variant="secondary", elem_id="image-files-button")


# -- listen: the events --------------------------------------------------------------------------------

def listen(services: Services, several: ImageSet, tab) -> None:
    """`tab`: the Image tab (ui.tabs.image.ImageTab) whose upload, settings and results these drive."""
    from ui.tabs.image import request_from
    names = tab.controls.names()

    def on_files(paths):
        return images_added(services, paths)

    def on_select(paths, event: gr.SelectData):
        return chosen_image(paths, event.index)

    def on_enhance_all(arguments: dict):
        def job_of():
            return request_from(names, [arguments[name] for name in names], base=services.settings.defaults
                                ).with_changes(device=device_of(arguments["device_name"]))
        return enhance_all(services, arguments["paths"], arguments["selected"], job_of, arguments["token"],
                           arguments["request"], arguments["progress"])

    several.files.change(on_files, several.files, [several.strip, tab.upload, several.enhance_all],
                         api_name=False, show_progress="hidden")
    if several.phone_button is not None:  # picked on a phone: as if dropped in the box
        several.phone_button.upload(lambda paths: paths, several.phone_button, several.files, api_name=False,
                                    show_progress="hidden")
    several.strip.select(on_select, several.files, tab.upload, api_name=False, show_progress="hidden")
    handler = named_handler("enhance_all", ["paths", "selected", "token", "device_name", *names], on_enhance_all)
    several.enhance_all.click(handler, [several.files, tab.upload, tab.cancel_token, tab.device,
                                        *tab.controls.as_list()], [tab.download, tab.slider, tab.status],
                              api_name=False, concurrency_id="device",
                              concurrency_limit=services.config.CONCURRENCY_LIMIT, show_progress_on=[tab.status])
