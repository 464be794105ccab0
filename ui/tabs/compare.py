"""Inside the Image tab: run several models on a region, see them side by side, use the best."""
from __future__ import annotations

import gradio as gr

from engine.jobs.compare import DEFAULT_REGION_PX, compare_models, comparison_grid
from ui.services import CancelToken, Services, progress_adapter, user_error
from utils.images import read_image, to_pil_preview


def build(services: Services, upload: gr.File, model: gr.Dropdown) -> None:
    manager, config = services.manager, services.config
    available = [r.name for r in manager.list_models(("upscaler",)) if r.available]
    with gr.Accordion("Compare models on a region", open=False, elem_id="compare"):
        with gr.Row():
            chosen = gr.CheckboxGroup(manager.upscaler_names(), value=available, label="Models",
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

    def compare(path, names, x_px, y_px, side, request: gr.Request, progress=gr.Progress()):
        if not path:
            raise gr.Error("Upload an image first.", print_exception=False)
        try:
            pixels = read_image(path, max_bytes=config.MAX_IMAGE_BYTES, max_pixels=config.MAX_IMAGE_PIXELS).pixels
            side = int(side or DEFAULT_REGION_PX)
            region = None if (x_px is None or x_px < 0 or y_px is None or y_px < 0) else (x_px, y_px, side, side)
            if region is None and side != DEFAULT_REGION_PX:
                height, width = pixels.shape[:2]
                region = (max(0, (width - side) // 2), max(0, (height - side) // 2), side, side)
            crop, results = compare_models(pixels, list(names or []), model_manager=manager, region=region,
                                           on_progress=progress_adapter(progress, "models"),
                                           should_cancel=services.job_control(CancelToken(), request))
        except Exception as error:  # every failure ends in one sentence (the log has the traceback)
            raise user_error(error) from None
        lines = ["| model | time |", "|---|---|"] + [
            f"| {r.model} | {f'{r.seconds:.2f} s' if r.image is not None else 'not available: ' + r.error} |"
            for r in results]
        ran = [r.model for r in results if r.image is not None]
        return (to_pil_preview(comparison_grid(crop, results), 1600), "\n".join(lines),
                gr.update(choices=ran, value=ran[0] if ran else None))

    run.click(compare, [upload, chosen, x, y, size], [grid, timings, pick], api_name="compare_models",
              concurrency_id="device", concurrency_limit=config.CONCURRENCY_LIMIT)
    use.click(lambda name: gr.update(value=name) if name else gr.update(), pick, model, api_name=False)
