"""Widgets that the job tabs (Batch, Video) lay out alike: the model, its outscale and the device;
the run and cancel buttons, and the cancel event."""
from __future__ import annotations

import gradio as gr

from ui.formatting import model_choices
from ui.services import CancelToken, Services, device_dropdown


def model_outscale_device(services: Services, model: str, outscale: float, device_elem_id: str):
    """(model dropdown, outscale slider, device dropdown) starting at `model` and `outscale`."""
    return (gr.Dropdown(model_choices(services.manager.list_models(("upscaler",))), value=model, label="Model"),
            gr.Slider(1, 8, value=outscale, step=0.5, label="Outscale"),
            device_dropdown(services, device_elem_id))


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
