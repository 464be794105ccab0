"""Train tab: fine-tune a small model on a folder of the user's sharp images (inside the input folder).

Written in three layers: pure handler functions (values in, values out; unit-tested without a
browser), `render()` that lays out the components, and `listen()` that wires their events.
"""
from __future__ import annotations

import html
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from engine.jobs.batch import folder_inside
from engine.models.manager import ModelManager
from engine.training import StepReport, TrainingRequest, TrainingResult, train_model
from engine.training.validation import ValidationReport
from ui.formatting import model_choices
from ui.services import CancelToken, Services, device_dropdown, device_of, user_error
from utils.errors import InvalidInput
from utils.progress import format_seconds

DEFAULT_BASE = "realesr-animevideov3"
PLOT_POINTS = 400
UPDATE_EVERY_S = 1.0


# -- pure handlers -----------------------------------------------------------------------------
def base_choices(manager: ModelManager) -> list[str]:
    """Models that can be fine-tuned: the registry's Compact upscalers, then custom models (their
    architecture is checked when the run loads them)."""
    official = [s.name for s in manager.models.values() if s.kind == "upscaler" and s.architecture == "Compact"]
    return official + list(manager.custom_models())


def training_request(input_dir: Path, folder: str | None, name: str | None, base: str, steps, patch_px,
                     batch_size, seed) -> TrainingRequest:
    """The request the form describes, checked; the folder must lie inside the input folder."""
    if not folder or not str(folder).strip():
        raise InvalidInput(f"Name a folder of sharp images inside the input folder {input_dir} first.")
    if not name or not str(name).strip():
        raise InvalidInput("Give the new model a name first.")
    values = {"steps": steps, "patch size": patch_px, "batch size": batch_size, "seed": seed}
    for label, value in values.items():
        if value is None or float(value) != int(float(value)):
            raise InvalidInput(f"The {label} must be a whole number.")
    request = TrainingRequest(folder=folder_inside(input_dir, str(folder).strip()), name=str(name).strip(),
                              base=base, steps=int(steps), patch_px=int(patch_px), batch_size=int(batch_size),
                              seed=int(seed))
    request.check()
    return request


def loss_frame(losses: list[float], max_points: int = PLOT_POINTS) -> pd.DataFrame:
    """The loss curve for gr.LinePlot: every step, or bin means when there are more than `max_points`."""
    if not losses:
        return pd.DataFrame({"step": [], "loss": []})
    values = np.asarray(losses, dtype=np.float64)
    if len(values) <= max_points:
        return pd.DataFrame({"step": np.arange(1, len(values) + 1), "loss": values})
    edges = np.linspace(0, len(values), max_points + 1).astype(int)
    return pd.DataFrame({"step": edges[1:], "loss": [values[a:b].mean() for a, b in zip(edges[:-1], edges[1:])]})


def progress_markdown(report: StepReport | None) -> str:
    if report is None:
        return "Loading the model and checking the images..."
    parts = [f"**Step {report.step} / {report.steps}**", f"loss {report.loss:.4f}"]
    if report.steps_per_s:
        parts.append(f"{report.steps_per_s:.2f} steps/s")
    if report.seconds_left is not None and report.step < report.steps:
        parts.append(f"about {format_seconds(report.seconds_left)} left")
    elif report.step == report.steps:
        parts.append("validating and saving")
    if report.resumed_from:
        parts.append(f"continued from the checkpoint at step {report.resumed_from}")
    return " · ".join(parts)


def validation_rows(report: ValidationReport) -> list[list]:
    rows = [[r.image, r.base_psnr_db, r.tuned_psnr_db, r.base_ssim, r.tuned_ssim] for r in report.rows]
    rows.append(["mean", round(report.base_psnr_db, 3), round(report.tuned_psnr_db, 3), round(report.base_ssim, 4),
                 round(report.tuned_ssim, 4)])
    return rows


def result_markdown(result: TrainingResult) -> str:
    v = result.validation
    return (f"**Saved as `{html.escape(result.model_name)}`**: pick it in the Model list of any tab (reload the "
            f"page for the Batch and Video tabs). On the held-back images it scores "
            f"{v.tuned_psnr_db:.2f} dB PSNR against {v.base_psnr_db:.2f} dB for the starting model "
            f"({v.tuned_psnr_db - v.base_psnr_db:+.2f} dB), SSIM {v.tuned_ssim:.4f} against {v.base_ssim:.4f}. "
            f"{result.steps_per_s:.2f} steps/s in {format_seconds(result.seconds)} ({result.precision}).")


@dataclass
class TrainingRun:
    """One run on a worker thread; the handler polls it for what to show (reports, then the result)."""
    updates: queue.Queue
    thread: threading.Thread | None = None
    result: TrainingResult | None = None
    error: BaseException | None = None

    @classmethod
    def start(cls, request: TrainingRequest, **kwargs) -> "TrainingRun":
        updates: queue.Queue = queue.Queue()
        run = cls(updates)

        def work() -> None:
            try:
                run.result = train_model(request, on_step=updates.put, **kwargs)
            except BaseException as error:  # handed to the UI thread, which turns it into one sentence
                run.error = error
        run.thread = threading.Thread(target=work, daemon=True, name=f"train-{request.name}")
        run.thread.start()
        return run

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def poll(self, wait_s: float) -> list[StepReport]:
        """Reports that arrived, waiting up to `wait_s` for the first."""
        reports = []
        try:
            reports.append(self.updates.get(timeout=wait_s))
            while True:
                reports.append(self.updates.get_nowait())
        except queue.Empty:
            pass
        return reports


# -- layout ------------------------------------------------------------------------------------
@dataclass
class TrainComponents:
    folder: gr.Textbox
    name: gr.Textbox
    base: gr.Dropdown
    steps: gr.Number
    patch: gr.Dropdown
    batch: gr.Number
    seed: gr.Number
    device: gr.Dropdown
    run: gr.Button
    cancel: gr.Button
    status: gr.Markdown
    plot: gr.LinePlot
    grid: gr.Image
    table: gr.Dataframe
    token: gr.State


def render(services: Services) -> TrainComponents:
    config, manager = services.config, services.manager
    gr.Markdown("Fine-tune a small model on your own sharp images (one show's frames, your scans): it learns "
                "to undo blur, noise, resizing and JPEG the way Real-ESRGAN was trained, on your material. "
                "A tenth of the images is held back to measure the result against the starting model.")
    with gr.Row(equal_height=False):
        with gr.Column():
            folder = gr.Textbox(label=f"Folder of sharp images inside {config.INPUT_DIR}", placeholder="my-show",
                                elem_id="train-folder")
            name = gr.Textbox(label="New model name", placeholder="my-show-x4", elem_id="train-name")
            base = gr.Dropdown(base_choices(manager), value=DEFAULT_BASE, label="Starting model",
                               elem_id="train-base")
        with gr.Column():
            with gr.Row():
                steps = gr.Number(value=500, minimum=1, maximum=100_000, precision=0, label="Steps",
                                  elem_id="train-steps")
                patch = gr.Dropdown([64, 96, 128, 192, 256], value=128, label="Patch size (px)", elem_id="train-patch")
            with gr.Row():
                batch = gr.Number(value=4, minimum=1, maximum=64, precision=0, label="Batch size")
                seed = gr.Number(value=0, precision=0, label="Seed (same seed, same model)")
            device = device_dropdown(services, "train-device")
            with gr.Row():
                run = gr.Button("Train", variant="primary", elem_id="train-run")
                cancel = gr.Button("Cancel (keeps a checkpoint)", variant="stop", elem_id="train-cancel")
    status = gr.Markdown(elem_id="train-status")
    with gr.Row():
        plot = gr.LinePlot(loss_frame([]), x="step", y="loss", title="Training loss", elem_id="train-loss")
        grid = gr.Image(label="Held-back images: degraded input | starting model | fine-tuned | original",
                        interactive=False, format="png", elem_id="train-grid")
    table = gr.Dataframe(headers=["Image", "PSNR start (dB)", "PSNR tuned (dB)", "SSIM start", "SSIM tuned"],
                         interactive=False, label="Validation", elem_id="train-table")
    return TrainComponents(folder, name, base, steps, patch, batch, seed, device, run, cancel, status, plot, grid,
                           table, gr.State(CancelToken()))


def listen(services: Services, c: TrainComponents, model_dropdowns: list[gr.Dropdown] = ()) -> None:
    config, manager = services.config, services.manager
    dropdowns = list(model_dropdowns)

    def train(folder, name, base, steps, patch, batch, seed, device_name, cancel_token: CancelToken,
              request: gr.Request = None) -> Iterator[tuple]:
        cancel_token.reset()
        try:
            train_request = training_request(config.INPUT_DIR, folder, name, base, steps, patch, batch, seed)
        except Exception as error:
            raise user_error(error) from None
        unchanged = tuple(gr.update() for _ in dropdowns)
        run = TrainingRun.start(train_request, manager=manager, work_dir=config.DATA_DIR / "training" /
                                train_request.name, device=device_of(device_name),
                                should_cancel=services.job_control(cancel_token, request),
                                max_pixels=config.MAX_IMAGE_PIXELS)
        losses: list[float] = []
        last: StepReport | None = None
        yield (progress_markdown(None), loss_frame([]), None, None, *unchanged)
        while run.running or not run.updates.empty():
            reports = run.poll(UPDATE_EVERY_S)
            if reports:
                losses += [r.loss for r in reports]
                last = reports[-1]
                yield (progress_markdown(last), loss_frame(losses), None, None, *unchanged)
        if run.error is not None:
            raise user_error(run.error) from None
        result = run.result
        assert result is not None
        choices = gr.update(choices=model_choices(manager.list_models(("upscaler",))))
        yield (result_markdown(result), loss_frame(result.losses), result.validation.grid,
               validation_rows(result.validation), *(choices for _ in dropdowns))

    c.run.click(train, [c.folder, c.name, c.base, c.steps, c.patch, c.batch, c.seed, c.device, c.token],
                [c.status, c.plot, c.grid, c.table, *dropdowns], api_name="train_model", concurrency_id="device",
                concurrency_limit=config.CONCURRENCY_LIMIT)
    c.cancel.click(lambda t: t.cancel(), c.token, None, queue=False, api_name=False)
    c.base.focus(lambda: gr.update(choices=base_choices(manager)), None, c.base, queue=False, api_name=False)


def build(services: Services, model_dropdowns: list[gr.Dropdown] = ()) -> TrainComponents:
    """render + listen, for `ui/components.py`."""
    components = render(services)
    listen(services, components, model_dropdowns)
    return components
