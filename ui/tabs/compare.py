"""Inside the Image tab: run several models on a region, see them side by side, use the best.

Module-level handlers first (plain values in, values out; tested without a browser), then `render()`
(the layout) and `listen()` (the events).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
from PIL import Image

from engine.jobs.compare import DEFAULT_REGION_PX, Comparison, compare_models, comparison_grid
from engine.models.manager import ModelStatus
from ui.formatting import model_choices
from ui.services import CancelToken, Services, missing_weights_sentence, progress_adapter, user_error
from utils.images import read_image, to_pil_preview

GRID_PREVIEW_SIDE = 1600


# -- handlers: values in, values out -----------------------------------------------------------------

def model_boxes(rows: list[ModelStatus]) -> list[tuple[str, str]]:
    """The upscalers as (label, name) checkboxes, marked only when their weights are not here."""
    return model_choices(rows, mark_only_missing=True)


def region_of(width: int, height: int, x_px: float | None, y_px: float | None,
              side: int) -> tuple[int, int, int, int] | None:
    """The (x, y, side, side) region to compare in a `width` x `height` image; None: the engine's
    default centre region. A negative or empty x or y means the centre."""
    if x_px is not None and x_px >= 0 and y_px is not None and y_px >= 0:
        return (x_px, y_px, side, side)
    if side == DEFAULT_REGION_PX:
        return None
    return (max(0, (width - side) // 2), max(0, (height - side) // 2), side, side)


def timings_markdown(results: list[Comparison]) -> str:
    """A table of each model's time, or why it did not run."""
    lines = ["| model | time |", "|---|---|"]
    lines += [f"| {r.model} | {f'{r.seconds:.2f} s' if r.image is not None else 'not available: ' + r.error} |"
              for r in results]
    return "\n".join(lines)


def compare(services: Services, path: str | None, names: list[str] | None, x_px: float | None, y_px: float | None,
            side: float | None, request: gr.Request | None = None, progress=None) -> tuple[Image.Image, str, list[str]]:
    """(the side-by-side grid, the timings table, the models that ran) for the region of the image
    at `path`; one sentence if it cannot be done."""
    if not path:
        raise gr.Error("Upload an image first.", print_exception=False)
    config = services.config
    try:
        pixels = read_image(path, max_bytes=config.MAX_IMAGE_BYTES, max_pixels=config.MAX_IMAGE_PIXELS).pixels
        height, width = pixels.shape[:2]
        region = region_of(width, height, x_px, y_px, int(side or DEFAULT_REGION_PX))
        manager = services.manager
        missing = [n for n in names or [] if n in manager.models and not manager.is_available(n)]
        crop, results = compare_models(pixels, [n for n in names or [] if n not in missing], model_manager=manager,
                                       region=region, on_progress=progress_adapter(progress, "models"),
                                       should_cancel=services.job_control(CancelToken(), request))
    except Exception as error:  # every failure ends in one sentence (the log has the traceback)
        raise user_error(error) from None
    # a model without weights is told the web's way (the System tab or the administrator), without paths
    results += [Comparison(n, None, 0.0, missing_weights_sentence(n, manager.models[n].filename,
                                                                   services.config.ALLOW_DOWNLOADS))
                for n in missing]
    ran = [r.model for r in results if r.image is not None]
    return to_pil_preview(comparison_grid(crop, results), GRID_PREVIEW_SIDE), timings_markdown(results), ran


# -- render: the layout --------------------------------------------------------------------------------

@dataclass
class CompareTab:
    chosen: Any
    x: Any
    y: Any
    size: Any
    run: Any
    grid: Any
    timings: Any
    pick: Any
    use: Any


def render(services: Services) -> CompareTab:
    rows = services.manager.list_models(("upscaler",))
    available = [r.name for r in rows if r.available]
    with gr.Accordion("Compare models on a region", open=False, elem_id="compare"):
        with gr.Row():
            chosen = gr.CheckboxGroup(model_boxes(rows), value=available, label="Models",
                                      elem_id="compare-models")
        with gr.Row():
            x = gr.Number(value=-1, precision=0, label="Region x (-1 = centre)")
            y = gr.Number(value=-1, precision=0, label="Region y (-1 = centre)")
            size = gr.Number(value=DEFAULT_REGION_PX, precision=0, minimum=8, maximum=1024, label="Region size")
            run = gr.Button("Compare", elem_id="compare-run")
        grid = gr.Image(label="Side by side", format="png", interactive=False, elem_id="compare-grid")
        timings = gr.Markdown(elem_id="compare-timings")
        with gr.Row():
            pick = gr.Dropdown(choices=[], label="Use this model for the whole image")
            use = gr.Button("Use it")
    return CompareTab(chosen, x, y, size, run, grid, timings, pick, use)


# -- listen: the events --------------------------------------------------------------------------------

def listen(services: Services, tab: CompareTab, upload: gr.File, model: gr.Dropdown,
           model_lists=None) -> None:
    # The named API's parameters are this function's (scripts call /compare_models by these names).
    def compare_region(path, names, x_px, y_px, side, request: gr.Request, progress=gr.Progress()):
        grid, timings, ran = compare(services, path, names, x_px, y_px, side, request, progress)
        return grid, timings, gr.update(choices=ran, value=ran[0] if ran else None)

    tab.run.click(compare_region, [upload, tab.chosen, tab.x, tab.y, tab.size], [tab.grid, tab.timings, tab.pick],
                  api_name="compare_models", concurrency_id="device",
                  concurrency_limit=services.config.CONCURRENCY_LIMIT)
    tab.use.click(lambda name: gr.update(value=name) if name else gr.update(), tab.pick, model, api_name=False)
    if model_lists is not None:
        model_lists.add(tab.chosen, model_boxes)


def build(services: Services, upload: gr.File, model: gr.Dropdown, model_lists=None) -> None:
    """`model_lists` (ui.widgets.ModelLists): where the model checkboxes register to be refreshed."""
    listen(services, render(services), upload, model, model_lists)
