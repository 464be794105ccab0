"""Batch tab: many uploads or a server-side folder under the input directory, one setting for all.

Module-level handlers first (plain values in, values out; tested without a browser), then `render()`
(the layout) and `listen()` (the events).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from engine.jobs.batch import BatchResult, check_batch_template, folder_inside, images_in, process_batch
from engine.jobs.naming import KEEP_NAME_TEMPLATE, PLACEHOLDERS
from engine.request import EnhanceRequest
from ui.services import CancelToken, Services, device_of, progress_adapter, require_weights
from ui.widgets import ModelLists, listen_cancel, model_outscale_device, on_page_load, run_buttons

MAX_SHOWN = 48  # results in the gallery; the zip holds them all


# -- handlers: values in, values out -----------------------------------------------------------------

def batch_inputs(input_dir: Path, files: list[str] | None, folder_name: str | None,
                 subfolders: bool) -> tuple[list[Path], Path | None]:
    """The uploads, then the images in `folder_name` (inside `input_dir` only; its subfolders too
    with `subfolders`), and the folder whose tree the results mirror (None: a flat result folder)."""
    inputs = [Path(f) for f in (files or [])]
    root = None
    if folder_name and folder_name.strip():
        folder_path = folder_inside(input_dir, folder_name.strip())
        inputs += images_in(folder_path, recursive=bool(subfolders))
        root = folder_path if subfolders else None
    if not inputs:
        raise gr.Error("Add images or name a folder first.", print_exception=False)
    return inputs, root


def batch_template(name_template: str | None, keep: bool) -> str:
    """The batch's name template ("": the default `<name>_out.<ext>`), checked before any work."""
    template = KEEP_NAME_TEMPLATE if keep else (name_template or "").strip()
    return check_batch_template(template) if template else ""


def batch_request(defaults: EnhanceRequest, model_name: str, scale: float, template: str, never_overwrite: bool,
                  strip_metadata: bool, device_name: str | None) -> EnhanceRequest:
    """The one request every image of the batch is enhanced with, over the server's `defaults`."""
    return EnhanceRequest.from_dict({"model": model_name, "outscale": scale, "name_template": template,
                                     "overwrite": not never_overwrite, "strip_metadata": bool(strip_metadata),
                                     "device": device_of(device_name)}, base=defaults)


def batch_job(services: Services, inputs: list[Path], job: EnhanceRequest, token: CancelToken, *,
              resume: bool = False, root: Path | None = None, request: gr.Request | None = None,
              progress=None) -> BatchResult:
    """`inputs` enhanced with `job` through the batch engine in a new job folder of the caller's,
    zipped and recorded in their history (the Batch tab, and the Image tab's "Enhance all"); one
    sentence if it cannot start. `progress` is called like gr.Progress, `((done, total), desc=note)`."""
    with services.one_sentence():
        require_weights(services, job.model)  # one sentence now, not one failure per image
        report = progress_adapter(progress, "images")
        current = {"index": 0, "total": len(inputs), "name": ""}

        def on_item(done: int, total: int, name: str) -> None:
            current.update(index=done, total=total, name=name)
            report(done, total, f"image {min(done + 1, total)}/{total}: {name}")

        def within_item(done: int, total: int, note: str) -> None:
            # progress over items, refined by the tiles of the current one
            fraction = current["index"] + (done / total if total else 0)
            report(round(fraction * 100), current["total"] * 100,
                   f"image {current['index'] + 1}/{current['total']}: {current['name']} ({note})")
        with services.job_folder(request, "batch") as output_dir:
            return process_batch(inputs, model_manager=services.manager, config=services.config.engine,
                                 output_dir=output_dir, request=job, resume=resume, make_zip=True,
                                 on_item=on_item, on_progress=within_item,
                                 should_cancel=services.job_control(token, request),
                                 history=services.history_of(request), input_root=root)


def run_batch(services: Services, files: list[str] | None, folder_name: str | None, model_name: str, scale: float,
              resume: bool, token: CancelToken, subfolders: bool = False, name_template: str | None = "",
              keep: bool = False, never_overwrite: bool = False, strip_metadata: bool = False,
              device_name: str | None = None, request: gr.Request | None = None, progress=None) -> tuple:
    """(summary, items table, result paths to show, zip path) for one batch; one sentence if it
    cannot start. `progress` is called like gr.Progress, `((done, total), desc=note)`."""
    token.reset()
    with services.one_sentence():
        inputs, root = batch_inputs(services.config.INPUT_DIR, files, folder_name, subfolders)
        job = batch_request(services.settings.defaults, model_name, scale, batch_template(name_template, keep),
                            never_overwrite, strip_metadata, device_name)
    result = batch_job(services, inputs, job, token, resume=bool(resume), root=root, request=request,
                       progress=progress)
    shown = [str(i.output_path) for i in result.items if i.output_path][:MAX_SHOWN]
    note = " (cancelled)" if len(result.items) < len(inputs) else ""
    return (f"**{result.summary()}**{note}", result.table(), shown, str(result.zip_path) if result.zip_path else None)


# -- render: the layout --------------------------------------------------------------------------------

@dataclass
class BatchTab:
    token: Any
    uploads: Any
    folder: Any
    recursive: Any
    model: Any
    outscale: Any
    device: Any
    resume: Any
    template: Any
    keep_name: Any
    no_overwrite: Any
    strip: Any
    run: Any
    cancel: Any
    summary: Any
    table: Any
    gallery: Any
    archive: Any
    model_note: Any = None


def render(services: Services) -> BatchTab:
    config = services.config
    token = gr.State(CancelToken())
    with gr.Row(equal_height=False):
        with gr.Column():
            uploads = gr.File(label="Images", file_count="multiple", type="filepath", elem_id="batch-files")
            folder = gr.Textbox(label=f"...or a folder inside {config.INPUT_DIR}", placeholder="scans/1998",
                                elem_id="batch-folder")
            recursive = gr.Checkbox(label="Include subfolders (the folder tree is mirrored in the results)",
                                    value=False, elem_id="batch-recursive")
        with gr.Column():
            model, outscale, device, model_note = model_outscale_device(services, config.DEFAULT_MODEL, 4,
                                                                        "batch-device")
            resume = gr.Checkbox(label="Resume: skip images you already enhanced with these settings", value=False,
                                 info="Recognised by their content and name; the earlier result is listed again")
            with gr.Accordion("Names and metadata", open=False):
                template = gr.Textbox(value="", label="Name template (empty: <name>_out.<ext>)",
                                      placeholder="{stem}_{model}_{scale}.{ext}", elem_id="batch-template",
                                      info="Placeholders: " + " ".join("{" + p + "}" for p in PLACEHOLDERS))
                with gr.Row():
                    keep_name = gr.Checkbox(label="Keep the original name", value=False, elem_id="batch-keep-name")
                    no_overwrite = gr.Checkbox(label="Never overwrite (add \" (2)\")", value=False,
                                               elem_id="batch-no-overwrite")
                    strip = gr.Checkbox(label="Strip metadata", value=False, elem_id="batch-strip")
            run, cancel = run_buttons("Process all", "batch-run")
    summary = gr.Markdown(elem_id="batch-summary")
    table = gr.Dataframe(headers=["Input", "Status", "Output", "Error", "Seconds"], interactive=False,
                         label="Items", elem_id="batch-table")
    with gr.Row():
        gallery = gr.Gallery(label="Results", columns=4, height=320, format="png")
        archive = gr.File(label="All results (zip)", interactive=False)
    return BatchTab(token, uploads, folder, recursive, model, outscale, device, resume, template, keep_name,
                    no_overwrite, strip, run, cancel, summary, table, gallery, archive, model_note)


# -- listen: the events --------------------------------------------------------------------------------

def listen(services: Services, tab: BatchTab) -> None:
    # The named API's parameters are this function's (scripts call /process_batch by these names).
    def process(files, folder_name, model_name, scale, resume_flag, cancel_token: CancelToken, subfolders=False,
                name_template="", keep=False, never_overwrite=False, strip_metadata=False, device_name=None,
                request: gr.Request = None, progress=gr.Progress()):
        return run_batch(services, files, folder_name, model_name, scale, resume_flag, cancel_token, subfolders,
                         name_template, keep, never_overwrite, strip_metadata, device_name, request, progress)

    tab.run.click(process, [tab.uploads, tab.folder, tab.model, tab.outscale, tab.resume, tab.token, tab.recursive,
                            tab.template, tab.keep_name, tab.no_overwrite, tab.strip, tab.device],
                  [tab.summary, tab.table, tab.gallery, tab.archive], api_name="process_batch",
                  concurrency_id="device", concurrency_limit=services.config.CONCURRENCY_LIMIT)
    listen_cancel(tab.cancel, tab.token)

    def on_load():
        remembered = services.remembered()
        return remembered.model, remembered.outscale
    on_page_load(on_load, None, [tab.model, tab.outscale])


def build(services: Services, model_lists: ModelLists | None = None) -> None:
    tab = render(services)
    listen(services, tab)
    if model_lists is not None:
        model_lists.add(tab.model, note=tab.model_note)
