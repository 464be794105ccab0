"""Video tab: upscale a video (or a preview of its start), audio and subtitles kept.

Module-level handlers first (plain values in, values out; tested without a browser), then `render()`
(the layout) and `listen()` (the events).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from engine.jobs.video import CODECS, VIDEO_MODEL, enhance_video_direct, video_defaults
from engine.request import EnhanceRequest
from ui.services import CANCELLED_NOTE, CancelToken, Services, device_of
from ui.widgets import ModelLists, listen_cancel, model_outscale_device, on_page_load, run_buttons
from utils.errors import UserError
from utils.progress import format_seconds
from utils.video_probe import VideoInfo, probe_video

VIDEO_EXTENSIONS = [".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"]


# -- handlers: values in, values out -----------------------------------------------------------------

def video_request(services: Services, model_name: str, scale: float, codec_name: str, quality: float,
                  seconds: float | None, device_name: str | None) -> EnhanceRequest:
    """The video job's request: the widgets' values over the video defaults, at the server's
    precision. `seconds` 0 or empty: the whole video."""
    defaults = video_defaults(services.config.engine)
    return EnhanceRequest.from_dict({"model": model_name, "outscale": scale, "codec": codec_name, "crf": quality,
                                     "max_seconds": seconds or None, "device": device_of(device_name)},
                                    base=defaults)


def video_summary(info: VideoInfo, preview_s: float | None, outscale: float, speed_px_s: float | None) -> str:
    """What a run will do before it starts: the video's size, length and frames, how many frames the
    preview (or the whole video) is, and the time it should take at `speed_px_s` (output pixels per
    second measured on this server's last video job with the model; None: not measured yet)."""
    fps = float(info.fps)
    total = info.estimated_frames
    frames = min(total, max(1, round(preview_s * fps))) if preview_s else total
    length = f"{info.duration_s:.1f} s" if info.duration_s else "unknown length"
    part = f"the preview (first {preview_s:g} s) is {frames} frames" if preview_s else f"all {frames} frames"
    lines = [f"**{info.width}x{info.height}, {length} at {fps:.3g} frames/s, about {total} frames**; {part}."]
    if speed_px_s:
        seconds = frames * info.width * info.height * outscale * outscale / speed_px_s
        lines.append(f"At this model's last measured speed that takes about **{format_seconds(seconds)}**.")
    else:
        lines.append("The time left shows in the progress bar once the first frames are done.")
    return " ".join(lines)


def describe_upload(services: Services, path: str | None, preview_s, model_name: str, outscale) -> str:
    """The summary for the uploaded video ("" with none; one sentence for a file that is no video)."""
    if not path:
        return ""
    try:
        info = probe_video(Path(path))
    except UserError as error:
        return f"⚠️ {error}"
    return video_summary(info, float(preview_s or 0), float(outscale or 1), services.video_speeds.get(model_name))


def run_video(services: Services, path: str | None, model_name: str, scale: float, codec_name: str, quality: float,
              seconds: float | None, token: CancelToken, device_name: str | None,
              request: gr.Request | None = None, progress=None) -> tuple[str, str]:
    """(result path, status line) for one video; one sentence if it cannot be done. `progress` is
    called like gr.Progress, `((done, total), desc=note)`."""
    if not path:
        raise gr.Error("Upload a video first.", print_exception=False)
    _, video = services.run_file_job(
        enhance_video_direct, path,
        lambda: video_request(services, model_name, scale, codec_name, quality, seconds, device_name),
        kind="video", token=token, request=request, progress=progress, unit="frames")
    if video is None:  # cancelled: a neutral note, not an error
        return gr.update(), f"**{CANCELLED_NOTE}**"
    if video.frames and video.seconds > 0:  # for the next upload's time estimate
        services.video_speeds[model_name] = video.frames * video.width * video.height / video.seconds
    share = 100 * (video.decode_seconds + video.encode_seconds) / max(video.seconds, 1e-9)
    return str(video.output_path), (f"**{video.status}.** Decoding and encoding took {share:.0f}% of the time. "
                                    f"Saved as `{video.output_path.name}`.")


# -- render: the layout --------------------------------------------------------------------------------

@dataclass
class VideoTab:
    token: Any
    source: Any
    preview_seconds: Any
    model: Any
    outscale: Any
    device: Any
    codec: Any
    crf: Any
    run: Any
    cancel: Any
    status: Any
    result: Any
    info: Any = None
    model_note: Any = None


def render(services: Services) -> VideoTab:
    token = gr.State(CancelToken())
    with gr.Row(equal_height=False):
        with gr.Column():
            source = gr.File(label="Video (MP4, MOV, MKV, WebM, AVI)", type="filepath", elem_id="video-upload",
                             file_types=VIDEO_EXTENSIONS)
            preview_seconds = gr.Number(value=5, minimum=0, label="Preview: only the first seconds (0 = all)",
                                        elem_id="video-preview-seconds")
            info = gr.Markdown(elem_id="video-info")
        with gr.Column():
            model, outscale, device, model_note = model_outscale_device(services, VIDEO_MODEL, 2,
                                                                        "video-device")
            with gr.Row():
                codec = gr.Dropdown(list(CODECS), value="h264", label="Codec")
                crf = gr.Slider(0, 51, value=18, step=1, label="Quality loss (lower = better, bigger file)",
                                info="CRF: 18 looks like the source")
            run, cancel = run_buttons("Enhance video", "video-run")
    status = gr.Markdown(elem_id="video-status")
    result = gr.Video(label="Result", interactive=False, elem_id="video-result")
    return VideoTab(token, source, preview_seconds, model, outscale, device, codec, crf, run, cancel, status, result,
                    info, model_note)


# -- listen: the events --------------------------------------------------------------------------------

def listen(services: Services, tab: VideoTab) -> None:
    # The named API's parameters are this function's (scripts call /enhance_video by these names).
    def process(path, model_name, scale, codec_name, quality, seconds, cancel_token: CancelToken, device_name,
                request: gr.Request, progress=gr.Progress()):
        return run_video(services, path, model_name, scale, codec_name, quality, seconds, cancel_token, device_name,
                         request, progress)

    tab.run.click(process, [tab.source, tab.model, tab.outscale, tab.codec, tab.crf, tab.preview_seconds, tab.token,
                            tab.device], [tab.result, tab.status], api_name="enhance_video", concurrency_id="device",
                  concurrency_limit=services.config.CONCURRENCY_LIMIT)
    listen_cancel(tab.cancel, tab.token)

    def on_describe(path, seconds, model_name, scale):
        return describe_upload(services, path, seconds, model_name, scale)
    info_inputs = [tab.source, tab.preview_seconds, tab.model, tab.outscale]
    tab.source.change(on_describe, info_inputs, tab.info, api_name=False, show_progress="hidden")
    for widget in (tab.preview_seconds, tab.model, tab.outscale):
        widget.input(on_describe, info_inputs, tab.info, api_name=False, show_progress="hidden")
    # the video model until a job remembered the user's choice
    on_page_load(lambda: services.remembered().model if services.has_remembered() else VIDEO_MODEL, None, tab.model)


def build(services: Services, model_lists: ModelLists | None = None) -> None:
    tab = render(services)
    listen(services, tab)
    if model_lists is not None:
        model_lists.add(tab.model, note=tab.model_note)
