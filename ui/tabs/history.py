"""History tab: every job with filters; "Run again with these settings" brings the job's input and
settings back into the Image tab.

Module-level handlers first (plain values in, values out; tested without a browser), then `render()`
(the layout) and `listen()` (the events).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from engine.jobs.history import HEADERS, OwnedHistory
from engine.jobs.job_folders import kept_input
from engine.request import EnhanceRequest
from ui.services import Services
from ui.tabs.image import ImageControls, fill_image_tab, values_for

KINDS = ("all", "image", "video", "batch-item")
STATUSES = ("all", "ok", "failed", "cancelled")


# -- handlers: values in, values out -----------------------------------------------------------------

def settings_from_job(recorded: dict) -> EnhanceRequest:
    """A recorded job's request (rows written before a setting existed, or by an older version,
    keep what can still be read)."""
    return EnhanceRequest.from_dict(recorded, lenient_where="history")


def job_number(value) -> int:
    """The job number typed in the box (0 when it is empty or not a whole number)."""
    try:
        return int(value or 0)
    except (TypeError, ValueError, OverflowError):
        return 0


def job_rows(history: OwnedHistory, kind_value: str, status_value: str, text: str | None) -> list[list[str]]:
    """The table's rows, newest first: jobs of that kind and status ("all": any) whose input, model
    or error contains `text`."""
    jobs = history.jobs(kind=None if kind_value == "all" else kind_value,
                        status=None if status_value == "all" else status_value, search=text or None)
    return [job.row() for job in jobs]


def run_again(history: OwnedHistory, available: list[str], names: list[str], number, face_ok: bool = True,
              owner_root: Path | None = None) -> tuple[list, str, str | None]:
    """(the Image tab's widget values in `names` order, the note, the job's input) for job `number`:
    its settings, and the input kept beside its result inside `owner_root` (the caller's own job
    folders; None: the input is gone, or no folder to look in). One sentence if there is no such
    job or its model is no longer `available`."""
    job = history.get(job_number(number))
    if job is None:
        raise gr.Error(f"There is no job #{job_number(number)} in your history; pick a number from the table.",
                       print_exception=False)
    settings = settings_from_job(job.settings)
    if settings.model not in available:
        raise gr.Error(f"Job #{job.id} used {settings.model}, which is no longer available.", print_exception=False)
    values = values_for(names, settings, available, face_ok)
    source = kept_input(job.output_path, job.input_name, owner_root) if owner_root is not None else None
    name = f"`{job.input_name.replace('`', '')}`"  # a file name shown as text, never as Markdown
    if source is not None:
        return values, f"Job #{job.id}'s image ({name}) and settings are in the Image tab; press Enhance.", \
            str(source)
    return values, (f"Job #{job.id}'s settings are in the Image tab, but its image {name} was not kept on the "
                    f"server (or was removed since); upload it (or another image) and Enhance."), None


def job_result(history: OwnedHistory, number, output_dir: Path) -> tuple[int, str | None, str]:
    """(the job number, its result's path or None, the note) for the job chosen in the table: the
    result only while it is still in the server's output folder (which serves it to its owner only)."""
    job = history.get(job_number(number))
    if job is None:
        return 0, None, "Choose a job in the table."
    path = Path(job.output_path) if job.output_path else None
    if path is None or not path.is_file() or not path.resolve().is_relative_to(output_dir.resolve()):
        return job.id, None, f"Job #{job.id} ({job.input_name}): no result to show" + (
            f"; {job.error}" if job.error else ".")
    return job.id, str(path), f"Job #{job.id}: {job.input_name} -> {path.name}"


def chosen_job(row: list | None) -> int:
    """The job number in a clicked table row (its first cell)."""
    return job_number(row[0]) if row else 0


# -- render: the layout --------------------------------------------------------------------------------

@dataclass
class HistoryTab:
    kind: Any
    status: Any
    search: Any
    refresh: Any
    table: Any
    job_id: Any
    again: Any
    note: Any
    thumbnail: Any
    download: Any


def render() -> HistoryTab:
    with gr.Row():
        kind = gr.Dropdown(list(KINDS), value="all", label="Kind")
        status = gr.Dropdown(list(STATUSES), value="all", label="Status")
        search = gr.Textbox(label="Search (input, model, error)")
        refresh = gr.Button("Refresh", elem_id="history-refresh")
    table = gr.Dataframe(headers=HEADERS, interactive=False, label="Jobs, newest first (click one)",
                         elem_id="history-table", wrap=True, max_height=420)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            thumbnail = gr.Image(label="Result", interactive=False, height=200, elem_id="history-thumb")
        with gr.Column(scale=2):
            download = gr.File(label="Download the result", interactive=False, elem_id="history-file")
            job_id = gr.Number(label="Job #", precision=0, minimum=0, elem_id="history-job")
            again = gr.Button("Run again with these settings", elem_id="history-again")
            note = gr.Markdown(elem_id="history-note")
    return HistoryTab(kind, status, search, refresh, table, job_id, again, note, thumbnail, download)


# -- listen: the events --------------------------------------------------------------------------------

def listen(services: Services, tab: HistoryTab, controls: ImageControls, tabs: gr.Tabs, upload: gr.File) -> None:
    names = controls.names()

    # The named API's parameters are this function's (scripts call /history by these names).
    def rows(kind_value, status_value, text, request: gr.Request):
        return job_rows(services.history_of(request), kind_value, status_value, text)

    def on_again(number, request: gr.Request):
        values, note, source = run_again(services.history_of(request), services.manager.upscaler_names(), names,
                                         number, controls.face_ok, services.owner_root(request))
        return [*fill_image_tab(values, note), source, note]  # None clears an unrelated earlier image

    filters = [tab.kind, tab.status, tab.search]
    tab.refresh.click(rows, filters, tab.table, api_name="history")  # scripts may list their own jobs
    for event in (tab.kind.change, tab.status.change, tab.search.submit):
        event(rows, filters, tab.table, api_name=False)
    tabs.select(rows, filters, tab.table, api_name=False)
    def on_select(event: gr.SelectData, request: gr.Request):
        number, path, note = job_result(services.history_of(request), chosen_job(event.row_value),
                                        services.config.OUTPUT_DIR)
        image = path if path and Path(path).suffix.lower() in (".png", ".jpg", ".jpeg", ".webp") else None
        return number or None, image, path, note

    tab.table.select(on_select, None, [tab.job_id, tab.thumbnail, tab.download, tab.note], api_name=False)
    tab.again.click(on_again, tab.job_id, [*controls.as_list(), tabs, tab.note, upload, controls.status],
                    api_name=False)


def build(services: Services, controls: ImageControls, tabs: gr.Tabs, upload: gr.File) -> None:
    """`upload`: the Image tab's input, which "Run again" fills with the job's input."""
    listen(services, render(), controls, tabs, upload)
