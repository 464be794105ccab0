"""Presets tab: the built-in presets and the user's own; save, apply (fills the Image tab), delete."""
from __future__ import annotations

import gradio as gr

from ui.services import Services, user_error
from ui.tabs.image import ImageControls, request_from, values_for
from utils.errors import UserError


def build(services: Services, controls: ImageControls, tabs: gr.Tabs) -> None:
    settings = services.settings
    gr.Markdown("Built-in presets (Photo, Anime, Fast preview, Old photo with faces) cannot be deleted. "
                "Saving stores the Image tab's current controls.")
    with gr.Row():
        chooser = gr.Dropdown(settings.preset_names(), value="Photo", label="Preset", elem_id="preset-choice")
        apply_button = gr.Button("Apply to the Image tab", variant="primary", elem_id="preset-apply")
        delete_button = gr.Button("Delete", variant="stop", elem_id="preset-delete")
    details = gr.JSON(label="Preset settings", value=settings.get_preset("Photo").to_dict())
    with gr.Row():
        new_name = gr.Textbox(label="Save the current settings as", placeholder="My preset", elem_id="preset-name")
        save_button = gr.Button("Save preset", elem_id="preset-save")
    status = gr.Markdown(elem_id="preset-status")

    def show(name):
        try:
            return settings.get_preset(name).to_dict()
        except UserError:
            return None

    def apply(name):
        try:
            preset = settings.get_preset(name)
        except (UserError, OSError) as error:
            raise user_error(error) from None
        return [*values_for(controls.names(), preset, services.manager.upscaler_names()), gr.Tabs(selected="image"),
                f"Applied **{name}**."]

    def save(name, *values):
        try:
            settings.save_preset(name, request_from(controls.names(), list(values), base=settings.defaults))
        except (UserError, OSError) as error:
            raise user_error(error) from None
        name = " ".join(name.split())
        return gr.update(choices=settings.preset_names(), value=name), f"Saved **{name}**.", ""

    def delete(name):
        try:
            settings.delete_preset(name)
        except (UserError, OSError) as error:
            raise user_error(error) from None
        return gr.update(choices=settings.preset_names(), value="Photo"), f"Deleted **{name}**."

    chooser.change(show, chooser, details, api_name=False)
    apply_button.click(apply, chooser, [*controls.as_list(), tabs, status], api_name=False)
    save_button.click(save, [new_name, *controls.as_list()], [chooser, status, new_name], api_name=False)
    delete_button.click(delete, chooser, [chooser, status], api_name=False)
