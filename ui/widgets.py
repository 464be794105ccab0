"""Widgets that the job tabs (Batch, Video) lay out alike: the model, its outscale and the device;
the run and cancel buttons, and the cancel event."""
from __future__ import annotations

import gradio as gr

from ui.formatting import model_choices
from ui.services import CancelToken, Services, device_dropdown


def model_outscale_device(services: Services, model: str, outscale: float, device_elem_id: str):
    """(model dropdown, outscale slider, device dropdown) starting at `model` and `outscale`; their
    element ids start like the device's (`batch-device`: `batch-model`, `batch-outscale`)."""
    prefix = device_elem_id.rsplit("-", 1)[0]
    return (gr.Dropdown(model_choices(services.manager.list_models(("upscaler",))), value=model, label="Model",
                        elem_id=f"{prefix}-model"),
            gr.Slider(1, 8, value=outscale, step=0.5, label="Outscale", elem_id=f"{prefix}-outscale"),
            device_dropdown(services, device_elem_id))


def on_page_load(fn, inputs, outputs) -> None:
    """Run `fn` on every page load (each visit and reload), not only when the server starts: what the
    page shows (remembered settings, loaded models) changes while the server runs."""
    from gradio.context import Context
    Context.root_block.load(fn, inputs, outputs, api_name=False, queue=False)


def run_buttons(label: str, elem_id: str) -> tuple[gr.Button, gr.Button]:
    """(run, cancel) side by side."""
    with gr.Row():
        return gr.Button(label, variant="primary", elem_id=elem_id), gr.Button("Cancel", variant="stop")


def listen_cancel(button: gr.Button, token: gr.State) -> None:
    """The button stops the session's running job after its current step (no queue: it must not wait
    behind the job it stops)."""
    def on_cancel(cancel_token: CancelToken) -> None:
        cancel_token.cancel()
    button.click(on_cancel, token, None, queue=False, api_name=False)
