"""Video tab: upscale a video (or a preview of its start), audio and subtitles kept."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from engine.jobs.video import CODECS, enhance_video_direct
from ui.formatting import model_choices
from ui.services import CancelToken, Services, device_dropdown, device_of, progress_adapter, user_error
from utils.validation import sanitize_filename


def build(services: Services) -> None:
    config, manager = services.config, services.manager
    token = gr.State(CancelToken())
    with gr.Row(equal_height=False):
        with gr.Column():
            source = gr.File(label="Video (MP4, MOV, MKV, WebM, AVI)", type="filepath", elem_id="video-upload",
                             file_types=[".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"])
            preview_seconds = gr.Number(value=5, minimum=0, label="Preview: only the first seconds (0 = all)")
        with gr.Column():
            model = gr.Dropdown(model_choices(manager.list_models(("upscaler",))), value="realesr-animevideov3",
                                label="Model")
            outscale = gr.Slider(1, 8, value=2, step=0.5, label="Outscale")
            device = device_dropdown(services, "video-device")
            with gr.Row():
                codec = gr.Dropdown(list(CODECS), value="h264", label="Codec")
                crf = gr.Slider(0, 51, value=18, step=1, label="CRF (lower = better quality, bigger file)")
            with gr.Row():
                run = gr.Button("Enhance video", variant="primary", elem_id="video-run")
                cancel = gr.Button("Cancel", variant="stop")
    status = gr.Markdown(elem_id="video-status")
    result = gr.Video(label="Result", interactive=False, elem_id="video-result")

    def process(path, model_name, scale, codec_name, quality, seconds, cancel_token: CancelToken, device_name,
                request: gr.Request, progress=gr.Progress()):
        if not path:
            raise gr.Error("Upload a video first.", print_exception=False)
        cancel_token.reset()
        try:
            with services.job_folder(request, "video") as folder:
                video = enhance_video_direct(
                    path, model_name, float(scale), model_manager=manager, config=config,
                    output_dir=folder, output_name=sanitize_filename(Path(path).stem),
                    codec=codec_name, crf=int(quality), max_seconds=float(seconds) if seconds else None,
                    on_progress=progress_adapter(progress, "frames"),
                    should_cancel=services.job_control(cancel_token, request),
                    history=services.history_of(request), gpu_id=device_of(device_name))
        except Exception as error:  # every failure ends in one sentence (the log has the traceback)
            raise user_error(error) from None
        share = 100 * (video.decode_seconds + video.encode_seconds) / max(video.seconds, 1e-9)
        return str(video.output_path), (f"**{video.status}.** Decoding and encoding took {share:.0f}% of the time. "
                                        f"Saved as `{video.output_path.name}`.")

    run.click(process, [source, model, outscale, codec, crf, preview_seconds, token, device], [result, status],
              api_name="enhance_video", concurrency_id="device", concurrency_limit=config.CONCURRENCY_LIMIT)
    cancel.click(lambda t: t.cancel(), token, None, queue=False, api_name=False)
