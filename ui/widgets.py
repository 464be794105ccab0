"""Widgets that the job tabs (Batch, Video) lay out alike: the model, its outscale and the device;
the run and cancel buttons, and the cancel event."""
from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from engine.models.manager import ModelStatus
from ui.formatting import model_choices
from ui.services import CancelToken, Services, device_dropdown, model_note


class ModelLists:
    """Every model list on the page (the Image, Batch, Video and Compare ones), so that they are
    refreshed together: on each page load and after a download in the System tab."""

    def __init__(self) -> None:
        self.entries: list[tuple[gr.components.Component, Callable[[list[ModelStatus]], list]]] = []
        self.notes: list[tuple[gr.components.Component, gr.Markdown]] = []
        self.others: list[tuple[list, Callable[[], list]]] = []  # widgets that follow the weights otherwise

    def add(self, component, choices_of: Callable[[list[ModelStatus]], list] = model_choices,
            note: gr.Markdown | None = None):
        """Register `component`; `choices_of` turns the upscalers' statuses into its choices; `note`
        (from `model_note_box`) says what to do about the chosen model."""
        self.entries.append((component, choices_of))
        if note is not None:
            self.notes.append((component, note))
        return component

    def add_others(self, components: list, updates: Callable[[], list]) -> None:
        """Widgets whose state follows the weights in another way (the face controls: usable once a
        face restorer is here); `updates()` gives their updates, in `components` order."""
        self.others.append((components, updates))

    def inputs(self) -> list:
        """The lists whose notes follow them (their values go in)."""
        return [component for component, _ in self.notes]

    def listed(self) -> list:
        """What follows the weights folder: every list, then the other widgets (not the notes)."""
        return [component for component, _ in self.entries] + [c for components, _ in self.others for c in components]

    def outputs(self) -> list:
        return self.listed() + [note for _, note in self.notes]

    def updates(self, services: Services, *chosen) -> list:
        """The choices of each list as the weights folder is now (the values stay as they are), the
        other widgets' updates, then each note for the model `chosen` in its list (`inputs` order)."""
        rows = services.manager.list_models(("upscaler",))
        return ([gr.update(choices=choices_of(rows)) for _, choices_of in self.entries]
                + [update for _, updates in self.others for update in updates()]
                + [note_update(model_note(services, name)) for name in chosen])


def model_note_box(services: Services, dropdown: gr.Dropdown, elem_id: str) -> gr.Markdown:
    """A note under `dropdown` that says, in one sentence, what to do when the chosen model's weights
    are not on this server (empty otherwise)."""
    text = model_note(services, dropdown.value)
    note = gr.Markdown(text, elem_id=elem_id, visible=bool(text))
    dropdown.change(lambda name: note_update(model_note(services, name)), dropdown, note, api_name=False,
                    queue=False, show_progress="hidden")
    return note


def note_update(text: str) -> dict:
    """A note shown with `text`, or hidden while there is nothing to say (it takes no room then)."""
    return gr.update(value=text, visible=bool(text))


def model_outscale_device(services: Services, model: str, outscale: float, device_elem_id: str):
    """(model dropdown, outscale slider, device dropdown, the model's note) starting at `model` and
    `outscale`; their element ids start like the device's (`batch-device`: `batch-model`,
    `batch-outscale`, `batch-model-note`)."""
    prefix = device_elem_id.rsplit("-", 1)[0]
    dropdown = gr.Dropdown(model_choices(services.manager.list_models(("upscaler",))), value=model, label="Model",
                           elem_id=f"{prefix}-model")
    note = model_note_box(services, dropdown, f"{prefix}-model-note")
    return (dropdown,
            gr.Slider(1, 8, value=outscale, step=0.5, label="Outscale", elem_id=f"{prefix}-outscale"),
            device_dropdown(services, device_elem_id), note)


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


# Gradio's ImageSlider zooms both sides together on the mouse wheel (1.05x a notch, up to 15x) and
# pans by dragging, but shows no control for it: these buttons drive that same zoom (wheel events at
# the picture's centre), so the two sides stay aligned exactly as Gradio keeps them.
ZOOM_NOTCHES = 15  # 1.05 ** 15 = 2.08: one press about doubles the magnification
ZOOM_JS = """(notches) => {
  const image = document.querySelector('#%s img');
  if (!image) return;
  const box = image.getBoundingClientRect();
  const x = box.left + box.width / 2, y = box.top + box.height / 2;
  for (let i = 0; i < Math.abs(notches); i++) {
    image.dispatchEvent(new WheelEvent('wheel', {deltaY: notches > 0 ? -100 : 100, clientX: x, clientY: y,
                                                 bubbles: true, cancelable: true}));
  }
}"""


def slider_zoom(slider_elem_id: str) -> None:
    """A hint and zoom in / out / fit buttons under the ImageSlider `slider_elem_id`."""
    with gr.Row(elem_id=f"{slider_elem_id}-zoom"):
        gr.Markdown("Scroll on the picture to zoom, drag it to look around; both sides stay aligned.",
                    elem_id=f"{slider_elem_id}-zoom-hint")
        for label, notches, name in (("Zoom in", ZOOM_NOTCHES, "in"), ("Zoom out", -ZOOM_NOTCHES, "out"),
                                     ("Fit", -200, "fit")):
            button = gr.Button(label, size="sm", variant="secondary", elem_id=f"{slider_elem_id}-zoom-{name}",
                               min_width=80, scale=0)
            button.click(None, None, None, js=f"() => ({ZOOM_JS % slider_elem_id})({notches})")
