"""System tab: devices, memory, versions, loaded models, every model's availability, downloads."""
from __future__ import annotations

import shutil

import gradio as gr

from ui.formatting import models_table, system_markdown
from ui.services import Services, progress_adapter, user_error
from utils.gpu import GPUDetector
from utils.metrics import format_bytes


def missing_names(rows) -> list[str]:
    return [row.name for row in rows if not row.available]


def build(services: Services) -> None:
    manager, config = services.manager, services.config

    def snapshot():
        free = format_bytes(shutil.disk_usage(config.OUTPUT_DIR).free) if config.OUTPUT_DIR.exists() else "n/a"
        loaded = [f"{m.name} ({m.device}, {m.precision})" for m in manager.loaded_models()]
        info = system_markdown(GPUDetector.get_system_info(), loaded, free, str(config.OUTPUT_DIR))
        rows = manager.list_models()
        missing = missing_names(rows)
        return info, models_table(rows), gr.update(choices=missing, value=missing[0] if missing else None)

    info, table, _ = snapshot()
    summary = gr.Markdown(info, elem_id="system-info")
    models = gr.Dataframe(table, headers=["Model", "Kind", "Status", "Size", "Description"], label="Models",
                          interactive=False, elem_id="models-table")
    gr.Markdown(f"Weights folder: `{config.WEIGHTS_DIR}`; put your own `.pth`/`.safetensors` models in its "
                "`custom/` folder.")
    with gr.Row(visible=config.ALLOW_DOWNLOADS):
        missing = missing_names(manager.list_models())
        to_download = gr.Dropdown(missing, value=missing[0] if missing else None, label="Download official weights")
        download_button = gr.Button("Download", elem_id="download-model")
    refresh = gr.Button("Refresh")
    status = gr.Markdown()

    def download(name, progress=gr.Progress()):
        if not name:
            raise gr.Error("Choose a model to download.", print_exception=False)
        if name not in manager.models:
            raise gr.Error("Unknown model; choose one from the list.", print_exception=False)
        try:
            manager.download(name, on_progress=progress_adapter(progress))
        except Exception as error:  # every failure ends in one sentence (the log has the traceback)
            raise user_error(error) from None
        return (*snapshot(), f"Downloaded and verified **{name}**.")

    refresh.click(snapshot, None, [summary, models, to_download], api_name=False)
    download_button.click(download, to_download, [summary, models, to_download, status], api_name=False,
                          concurrency_id="downloads", concurrency_limit=1)
