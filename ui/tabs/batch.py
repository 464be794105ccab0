"""Batch tab: many uploads or a server-side folder under the input directory, one setting for all."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from engine.jobs.batch import check_batch_template, folder_inside, images_in, process_batch
from engine.jobs.naming import KEEP_NAME_TEMPLATE, PLACEHOLDERS
from ui.formatting import model_choices
from ui.services import CancelToken, Services, device_dropdown, device_of, progress_adapter, user_error


def build(services: Services) -> None:
    config, manager = services.config, services.manager
    token = gr.State(CancelToken())
    with gr.Row(equal_height=False):
        with gr.Column():
            uploads = gr.File(label="Images", file_count="multiple", type="filepath", elem_id="batch-files")
            folder = gr.Textbox(label=f"...or a folder inside {config.INPUT_DIR}", placeholder="scans/1998",
                                elem_id="batch-folder")
            recursive = gr.Checkbox(label="Include subfolders (the folder tree is mirrored in the results)",
                                    value=False, elem_id="batch-recursive")
        with gr.Column():
            model = gr.Dropdown(model_choices(manager.list_models(("upscaler",))), value=config.DEFAULT_MODEL,
                                label="Model")
            outscale = gr.Slider(1, 8, value=4, step=0.5, label="Outscale")
            device = device_dropdown(services, "batch-device")
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
            with gr.Row():
                run = gr.Button("Process all", variant="primary", elem_id="batch-run")
                cancel = gr.Button("Cancel", variant="stop")
    summary = gr.Markdown(elem_id="batch-summary")
    table = gr.Dataframe(headers=["Input", "Status", "Output", "Error", "Seconds"], interactive=False,
                         label="Items", elem_id="batch-table")
    with gr.Row():
        gallery = gr.Gallery(label="Results", columns=4, height=320, format="png")
        archive = gr.File(label="All results (zip)", interactive=False)

    def process(files, folder_name, model_name, scale, resume_flag, cancel_token: CancelToken, subfolders=False,
                name_template="", keep=False, never_overwrite=False, strip_metadata=False, device_name=None,
                request: gr.Request = None, progress=gr.Progress()):
        cancel_token.reset()
        try:
            inputs = [Path(f) for f in (files or [])]
            root = None
            if folder_name and folder_name.strip():
                folder_path = folder_inside(config.INPUT_DIR, folder_name.strip())
                inputs += images_in(folder_path, recursive=bool(subfolders))
                root = folder_path if subfolders else None
            if not inputs:
                raise gr.Error("Add images or name a folder first.", print_exception=False)
            template = KEEP_NAME_TEMPLATE if keep else (name_template or "").strip() or None
            if template:
                check_batch_template(template)  # before any work or folder
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
                result = process_batch(inputs, model_manager=manager, config=config, output_dir=output_dir,
                                       model_name=model_name, outscale=float(scale), resume=bool(resume_flag),
                                       make_zip=True, on_item=on_item, on_progress=within_item,
                                       should_cancel=services.job_control(cancel_token, request),
                                       history=services.history_of(request), input_root=root, name_template=template,
                                       overwrite=not never_overwrite, strip_metadata=bool(strip_metadata),
                                       gpu_id=device_of(device_name))
        except gr.Error:
            raise
        except Exception as error:  # every failure ends in one sentence (the log has the traceback)
            raise user_error(error) from None
        shown = [str(i.output_path) for i in result.items if i.output_path][:48]
        note = " (cancelled)" if len(result.items) < len(inputs) else ""
        return (f"**{result.summary()}**{note}", result.table(), shown,
                str(result.zip_path) if result.zip_path else None)

    run.click(process, [uploads, folder, model, outscale, resume, token, recursive, template, keep_name, no_overwrite,
                        strip, device], [summary, table, gallery, archive],
              api_name="process_batch", concurrency_id="device", concurrency_limit=config.CONCURRENCY_LIMIT)
    cancel.click(lambda t: t.cancel(), token, None, queue=False, api_name=False)
