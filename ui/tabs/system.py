"""System tab: devices, memory, versions, loaded models, every model's availability, downloads.

Module-level handlers first (plain values in, values out; tested without a browser), then `render()`
(the layout) and `listen()` (the events).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ui.formatting import models_table, system_markdown
from ui.services import Services, progress_adapter, user_error
from ui.widgets import ModelLists, on_page_load
from utils.gpu import GPUDetector
from utils.metrics import format_bytes

LIVE_EVERY_S = 10
DOWNLOADS_OFF = ("**Downloads are off on this server**, so models marked \"not downloaded\" cannot be fetched "
                 "here: the administrator can put their files in the weights folder, or turn downloads on "
                 "(REALESRGAN_ALLOW_DOWNLOADS=true) and restart.")
MODEL_HEADERS = ["Model", "Kind", "Status", "Size", "Description"]


# -- handlers: values in, values out -----------------------------------------------------------------

def missing_names(rows) -> list[str]:
    return [row.name for row in rows if not row.available]


def snapshot(services: Services) -> tuple[str, list[list[str]], list[str]]:
    """(the machine as Markdown, the models table, the models whose weights are not here yet)."""
    manager, config = services.manager, services.config
    free = format_bytes(shutil.disk_usage(config.OUTPUT_DIR).free) if config.OUTPUT_DIR.exists() else "n/a"
    loaded = [f"{m.name} ({m.device}, {m.precision})" for m in manager.loaded_models()]
    info = system_markdown(GPUDetector.get_system_info(), loaded, free, str(config.OUTPUT_DIR))
    rows = manager.list_models()
    return info, models_table(rows), missing_names(rows)


def download(services: Services, name: str | None, progress=None) -> tuple[str, list[list[str]], list[str], str]:
    """Fetch and verify model `name`'s weights: the new snapshot and the note; one sentence if it
    cannot be done. `progress` is called like gr.Progress, `((done, total), desc=note)`."""
    if not name:
        raise gr.Error("Choose a model to download.", print_exception=False)
    if name not in services.manager.models:
        raise gr.Error("Unknown model; choose one from the list.", print_exception=False)
    try:
        services.manager.download(name, on_progress=progress_adapter(progress))
    except Exception as error:  # every failure ends in one sentence (the log has the traceback)
        raise user_error(error) from None
    if services.manager.models[name].sha256:
        return (*snapshot(services), f"Downloaded and verified **{name}**.")
    return (*snapshot(services), f"Downloaded **{name}** (it has no published checksum: the one it came with is "
                                 "recorded and checked from now on).")


def missing_choice(missing: list[str]) -> dict:
    """The download dropdown's update: the missing models, the first one chosen."""
    return gr.update(choices=missing, value=missing[0] if missing else None)


# -- render: the layout --------------------------------------------------------------------------------

@dataclass
class SystemTab:
    summary: Any
    models: Any
    to_download: Any
    download_button: Any
    refresh: Any
    status: Any


def render(services: Services) -> SystemTab:
    config = services.config
    info, table, missing = snapshot(services)
    summary = gr.Markdown(info, elem_id="system-info")
    models = gr.Dataframe(table, headers=MODEL_HEADERS, label="Models", interactive=False, elem_id="models-table")
    gr.Markdown(f"Weights folder: `{config.WEIGHTS_DIR}`; put your own `.pth`/`.safetensors` models in its "
                "`custom/` folder.")
    if not config.ALLOW_DOWNLOADS:
        gr.Markdown(DOWNLOADS_OFF, elem_id="downloads-off")
    with gr.Row(visible=config.ALLOW_DOWNLOADS):
        to_download = gr.Dropdown(missing, value=missing[0] if missing else None, label="Download official weights",
                                  elem_id="download-choice")
        download_button = gr.Button("Download", elem_id="download-model")
    refresh = gr.Button("Refresh")
    status = gr.Markdown()
    return SystemTab(summary, models, to_download, download_button, refresh, status)


# -- listen: the events --------------------------------------------------------------------------------

def listen(services: Services, tab: SystemTab, model_lists: ModelLists | None = None) -> None:
    def on_refresh():
        info, table, missing = snapshot(services)
        return info, table, missing_choice(missing)

    def on_download(name, progress=gr.Progress()):
        info, table, missing, note = download(services, name, progress)
        return info, table, missing_choice(missing), note

    outputs = [tab.summary, tab.models, tab.to_download]
    tab.refresh.click(on_refresh, None, outputs, api_name=False)
    on_page_load(on_refresh, None, outputs)  # live figures: on every visit, then every few seconds
    # the figures only: the download choice stays as the user left it
    gr.Timer(LIVE_EVERY_S).tick(lambda: snapshot(services)[:2], None, outputs[:2], api_name=False, queue=False,
                                show_progress="hidden")
    downloaded = tab.download_button.click(on_download, tab.to_download,
                                           [tab.summary, tab.models, tab.to_download, tab.status], api_name=False,
                                           concurrency_id="downloads", concurrency_limit=1)
    if model_lists is not None and model_lists.entries:
        # every model list on the page says what is here now: after a download, and on each page load
        # (another visitor, or the administrator, may have added weights since the server started)
        def refresh_lists(*chosen):
            return model_lists.updates(services, *chosen)
        downloaded.success(refresh_lists, model_lists.inputs(), model_lists.outputs(), api_name=False, queue=False)
        # on a page load the choices only: each tab's own load sets its model, whose change sets its note
        on_page_load(lambda: model_lists.updates(services), None, model_lists.listed())


def build(services: Services, model_lists: ModelLists | None = None) -> None:
    listen(services, render(services), model_lists)
