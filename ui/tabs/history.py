"""History tab: every job with filters; "Run again with these settings" fills the Image tab."""
from __future__ import annotations

import gradio as gr

from engine.jobs.history import HEADERS
from engine.request import EnhanceRequest
from ui.services import Services
from ui.tabs.image import ImageControls, values_for

KINDS = ("all", "image", "video", "batch-item")
STATUSES = ("all", "ok", "failed", "cancelled")


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


def build(services: Services, controls: ImageControls, tabs: gr.Tabs) -> None:
    with gr.Row():
        kind = gr.Dropdown(list(KINDS), value="all", label="Kind")
        status = gr.Dropdown(list(STATUSES), value="all", label="Status")
        search = gr.Textbox(label="Search (input, model, error)")
        refresh = gr.Button("Refresh", elem_id="history-refresh")
    table = gr.Dataframe(headers=HEADERS, interactive=False, label="Jobs, newest first", elem_id="history-table")
    with gr.Row():
        job_id = gr.Number(label="Job #", precision=0, minimum=0, elem_id="history-job")
        again = gr.Button("Run again with these settings", elem_id="history-again")
    note = gr.Markdown()

    def rows(kind_value, status_value, text, request: gr.Request):
        jobs = services.history_of(request).jobs(kind=None if kind_value == "all" else kind_value,
                                                 status=None if status_value == "all" else status_value,
                                                 search=text or None)
        return [job.row() for job in jobs]

    def run_again(number, request: gr.Request):
        job = services.history_of(request).get(job_number(number))
        if job is None:
            raise gr.Error(f"There is no job #{job_number(number)} in your history; pick a number from the table.",
                           print_exception=False)
        settings = settings_from_job(job.settings)
        if settings.model not in services.manager.upscaler_names():
            raise gr.Error(f"Job #{job.id} used {settings.model}, which is no longer available.")
        return [*values_for(controls.names(), settings, services.manager.upscaler_names()), gr.Tabs(selected="image"),
                f"Job #{job.id}'s settings are in the Image tab; upload {job.input_name} (or another image) "
                "and Enhance."]

    refresh.click(rows, [kind, status, search], table, api_name="history")  # scripts may list their own jobs
    for event in (kind.change, status.change, search.submit):
        event(rows, [kind, status, search], table, api_name=False)
    tabs.select(rows, [kind, status, search], table, api_name=False)
    again.click(run_again, job_id, [*controls.as_list(), tabs, note], api_name=False)
