"""Presets tab: the built-in presets and the user's own; save, apply (fills the Image tab), delete.

Module-level handlers first (plain values in, values out; tested without a browser), then `render()`
(the layout) and `listen()` (the events).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from engine.settings_manager import BUILTIN_PRESETS, SettingsManager
from ui.services import Services, user_error
from ui.tabs.image import (ALPHA_CHOICES, PRECISION_CHOICES, ImageControls, fill_image_tab,
                           request_from, values_for)
from utils.errors import UserError

FIRST_PRESET = "Photo"  # built in, so it is always there to fall back on
SETTING_LABELS = {"model": "Model", "outscale": "Enlarge by (times)", "size": "Exact size", "tile": "Piece size (tile)",
                  "precision": "Number precision", "face_enhance": "Restore faces", "face_restorer": "Face restorer",
                  "face_fidelity": "Keep the original face (fidelity)", "denoise_strength": "Noise removal",
                  "alpha_upsampler": "Transparent parts", "output_format": "File type",
                  "quality": "Quality (JPEG, WebP)", "strip_metadata": "Remove camera details",
                  "blend_model": "Second model", "blend_weight": "Second model's visibility",
                  "double_pass": "Double pass"}


# -- handlers: values in, values out -----------------------------------------------------------------

def preset_details(settings: SettingsManager, name: str | None) -> dict | None:
    """The preset's settings as a dict (None for a name that is no preset)."""
    try:
        return settings.get_preset(name).to_dict()
    except UserError:
        return None


def readable_value(name: str, value: Any) -> str:
    """A setting's value in the words the Image tab uses."""
    if name == "blend_model":
        return value or "none"
    if name == "size":
        return value or "not set (enlarge by the factor)"
    shown = {"precision": dict((v, k) for k, v in PRECISION_CHOICES),
             "alpha_upsampler": dict((v, k) for k, v in ALPHA_CHOICES)}.get(name, {})
    if value in shown:
        return shown[value]
    if isinstance(value, bool):
        return "yes" if value else "no"
    if name == "tile" and value == 0:
        return "automatic"
    return str(value)


def preset_table(settings: SettingsManager, name: str | None) -> list[list[str]]:
    """The preset's settings as (setting, value) rows in plain words, the Image tab's order."""
    details = preset_details(settings, name)
    if details is None:
        return []
    return [[SETTING_LABELS[key], readable_value(key, details.get(key))] for key in SETTING_LABELS if key in details]


def is_builtin(name: str | None) -> bool:
    return name in BUILTIN_PRESETS


def apply_preset(settings: SettingsManager, available: list[str], names: list[str], name: str,
                 face_ok: bool = True) -> tuple[list, str]:
    """(the Image tab's widget values in `names` order, the note) for preset `name`; a model no longer
    `available` leaves the second-model choice at none; without a face restorer (`face_ok` False)
    face enhancement stays off and the note says so."""
    try:
        preset = settings.get_preset(name)
    except (UserError, OSError) as error:
        raise user_error(error) from None
    note = f"Applied **{name}**."
    if preset.face_enhance and not face_ok:
        note += " Face enhancement stays off: no face restorer is available on this server (see the System tab)."
    return values_for(names, preset, available, face_ok), note


def save_preset(settings: SettingsManager, names: list[str], name: str, values: list) -> tuple[list[str], str, str]:
    """Store the Image tab's widget `values` (in `names` order) as preset `name`:
    (the preset names now, the saved name with its spaces tidied, the note)."""
    try:
        settings.save_preset(name, request_from(names, list(values), base=settings.defaults))
    except (UserError, OSError) as error:
        raise user_error(error) from None
    name = " ".join(name.split())
    return settings.preset_names(), name, f"Saved **{name}**."


def delete_preset(settings: SettingsManager, name: str) -> tuple[list[str], str]:
    """Delete the user's preset `name` (a built-in one is refused): (the preset names now, the note)."""
    try:
        settings.delete_preset(name)
    except (UserError, OSError) as error:
        raise user_error(error) from None
    return settings.preset_names(), f"Deleted **{name}**."


# -- render: the layout --------------------------------------------------------------------------------

@dataclass
class PresetsTab:
    chooser: Any
    apply_button: Any
    delete_button: Any
    details: Any
    new_name: Any
    save_button: Any
    status: Any
    confirm_row: Any
    confirm_text: Any
    confirm_button: Any
    keep_button: Any


def render(services: Services) -> PresetsTab:
    settings = services.settings
    gr.Markdown("Built-in presets (Photo, Anime, Fast preview, Old photo with faces) cannot be deleted. "
                "Saving stores the Image tab's current controls.")
    with gr.Row():
        chooser = gr.Dropdown(settings.preset_names(), value=FIRST_PRESET, label="Preset", elem_id="preset-choice")
        apply_button = gr.Button("Apply to the Image tab", variant="primary", elem_id="preset-apply")
        delete_button = gr.Button("Delete", variant="secondary", elem_id="preset-delete",
                                  interactive=not is_builtin(FIRST_PRESET))
    with gr.Row(visible=False, elem_id="preset-confirm") as confirm_row:
        confirm_text = gr.Markdown()
        confirm_button = gr.Button("Yes, delete it", variant="stop", elem_id="preset-confirm-delete")
        keep_button = gr.Button("Keep it", elem_id="preset-keep")
    details = gr.Dataframe(preset_table(settings, FIRST_PRESET), headers=["Setting", "Value"], label="Preset settings",
                           interactive=False, elem_id="preset-details")
    with gr.Row():
        new_name = gr.Textbox(label="Save the current settings as", placeholder="My preset", elem_id="preset-name")
        save_button = gr.Button("Save preset", elem_id="preset-save")
    status = gr.Markdown(elem_id="preset-status")
    return PresetsTab(chooser, apply_button, delete_button, details, new_name, save_button, status, confirm_row,
                      confirm_text, confirm_button, keep_button)


# -- listen: the events --------------------------------------------------------------------------------

def listen(services: Services, tab: PresetsTab, controls: ImageControls, tabs: gr.Tabs) -> None:
    settings, names = services.settings, controls.names()

    def on_apply(name):
        try:
            return fill_image_tab(*apply_preset(settings, services.manager.upscaler_names(), names, name,
                                                controls.face_ok))
        except gr.Error as error:  # said once in the note, not as a pile of toasts
            return [*(gr.update() for _ in names), gr.update(), f"⚠️ {error.message}"]

    def on_choose(name):
        return preset_table(settings, name), gr.update(interactive=not is_builtin(name)), gr.update(visible=False)

    def on_save(name, *values):
        try:
            choices, saved, note = save_preset(settings, names, name, list(values))
        except gr.Error as error:
            return gr.update(), f"⚠️ {error.message}", gr.update()
        return gr.update(choices=choices, value=saved), note, ""

    def on_ask(name):
        return gr.update(visible=True), f"Delete the preset **{name}**? This cannot be undone."

    def on_delete(name):
        try:
            choices, note = delete_preset(settings, name)
        except gr.Error as error:
            return gr.update(), f"⚠️ {error.message}", gr.update(visible=False)
        return gr.update(choices=choices, value=FIRST_PRESET), note, gr.update(visible=False)

    tab.chooser.change(on_choose, tab.chooser, [tab.details, tab.delete_button, tab.confirm_row], api_name=False)
    tab.apply_button.click(on_apply, tab.chooser, [*controls.as_list(), tabs, tab.status], api_name=False)
    tab.save_button.click(on_save, [tab.new_name, *controls.as_list()], [tab.chooser, tab.status, tab.new_name],
                          api_name=False)
    tab.delete_button.click(on_ask, tab.chooser, [tab.confirm_row, tab.confirm_text], api_name=False, queue=False)
    tab.keep_button.click(lambda: gr.update(visible=False), None, tab.confirm_row, api_name=False, queue=False)
    tab.confirm_button.click(on_delete, tab.chooser, [tab.chooser, tab.status, tab.confirm_row], api_name=False)


def build(services: Services, controls: ImageControls, tabs: gr.Tabs) -> None:
    listen(services, render(services), controls, tabs)
