"""enhance_video_direct: decode with PyAV frame by frame, upscale, encode, remux audio and
subtitles; streaming (bounded memory), written to a temporary file renamed only when complete."""
from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np

from engine.inference import CancelCheck, run_batch
from engine.model_manager import ModelManager
from engine.processor import prepare_faces, recorded, tile_setting
from engine.upscale import (UpscaleOptions, bytes_per_input_pixel, check_outscale,
                            choose_tile, default_pad_px, output_size, upscale_pixels)
from utils.video_probe import VideoInfo, probe_video
from utils.errors import Cancelled, InvalidInput, OutputError
from utils.files import describe_os_error
from utils.gpu import DeviceRequest, GPUDetector, free_memory_bytes
from utils.images import resize
from utils.validation import sanitize_filename, validate_video_file

log = logging.getLogger(__name__)

Codec = Literal["h264", "h265", "vp9", "av1"]
CODECS: dict[str, tuple[str, str, str]] = {  # name: (encoder, container format, extension)
    "h264": ("libx264", "mp4", "mp4"),
    "h265": ("libx265", "mp4", "mp4"),
    "vp9": ("libvpx-vp9", "webm", "webm"),
    "av1": ("libsvtav1", "mp4", "mp4"),
}
DEFAULT_CRF = {"h264": 18, "h265": 22, "vp9": 30, "av1": 30}
# Audio and subtitle codecs each output container holds as they are; others are re-encoded.
CONTAINER_AUDIO = {"mp4": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}, "webm": {"opus", "vorbis"}}
CONTAINER_AUDIO_FALLBACK = {"mp4": "aac", "webm": "libopus"}
CONTAINER_SUBTITLES = {"mp4": {"mov_text"}, "webm": {"webvtt"}}
BYTES_PER_OUTPUT_PIXEL_ESTIMATE = 0.15  # generous bits for a CRF-18 H.264 frame, for the disk check


@dataclass
class VideoResult:
    output_path: Path
    device: str
    frames: int
    fps: Fraction
    width: int
    height: int
    seconds: float
    decode_seconds: float
    upscale_seconds: float
    encode_seconds: float
    audio_streams: int

    @property
    def status(self) -> str:
        return (f"Enhanced {self.frames} frames to {self.width}x{self.height} in {self.seconds:.1f} s "
                f"({self.frames / max(self.seconds, 1e-9):.2f} frames/s)")


def even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def check_limits(path: Path, info: VideoInfo, config: Any, max_seconds: float | None) -> None:
    duration = info.duration_s or 0
    limit_s = getattr(config, "MAX_VIDEO_SECONDS", None)
    if limit_s and duration > limit_s and not (max_seconds and max_seconds <= limit_s):
        raise InvalidInput(f"{path.name} lasts {duration:.0f} s, over the {limit_s:.0f} s limit; use a preview "
                           "(max seconds) or raise REALESRGAN_MAX_VIDEO_SECONDS.")
    limit_frames = getattr(config, "MAX_VIDEO_FRAMES", None)
    frames = info.estimated_frames if not max_seconds else min(info.estimated_frames, int(max_seconds * float(info.fps)) + 1)
    if limit_frames and frames > limit_frames:
        raise InvalidInput(f"{path.name} has about {frames} frames, over the {limit_frames} frame limit.")


def check_disk(output_dir: Path, frames: int, width: int, height: int) -> None:
    needed = frames * width * height * BYTES_PER_OUTPUT_PIXEL_ESTIMATE
    free = shutil.disk_usage(output_dir).free
    if needed > free:
        raise OutputError(f"The result needs about {needed / 2**30:.1f} GB but {output_dir} has "
                          f"{free / 2**30:.1f} GB free; free some space or use a preview.")


@recorded("video")
def enhance_video_direct(input_path: str | Path, model_name: str | None = None, scale: float = 2, *,
                         model_manager: ModelManager, config: Any = None, output_dir: str | Path | None = None,
                         output_name: str | None = None, suffix: str = "out", codec: str = "h264",
                         crf: int | None = None, max_seconds: float | None = None, tile: int = 0,
                         fp32: bool = False, face_enhance: bool = False, face_options: Any = None,
                         gpu_id: DeviceRequest = None, on_progress: Callable[[int, int, str], None] | None = None,
                         should_cancel: CancelCheck | None = None, frame_batch: int | None = None) -> VideoResult:
    """Upscale every frame of a video (or its first `max_seconds`), keeping timestamps, frame rate
    and audio. Raises a `UserError` subclass for anything the user can fix; no output is left
    behind on failure or cancellation. `frame_batch` frames go through the model at once (default:
    as many as fit in device memory when a whole frame fits, on GPUs; 1 on the CPU)."""
    started = time.perf_counter()
    path = Path(input_path)
    codec = (codec or "h264").lower()
    if codec not in CODECS:
        raise InvalidInput(f"Codec {codec!r} is not supported; use h264, h265, vp9 or av1.")
    crf = DEFAULT_CRF[codec] if crf is None else int(crf)
    if not 0 <= crf <= 63:
        raise InvalidInput(f"CRF {crf} is out of range; use 0 (best) to 51 (H.264/H.265) or 63 (VP9/AV1).")
    if max_seconds is not None and max_seconds <= 0:
        raise InvalidInput("The preview length must be a positive number of seconds.")
    outscale = check_outscale(float(scale))
    ok, message = validate_video_file(path, config)
    if not ok:
        raise InvalidInput(message)
    info = probe_video(path)
    check_limits(path, info, config, max_seconds)
    out_w, out_h = even(info.width * outscale), even(info.height * outscale)
    max_pixels = getattr(config, "MAX_OUTPUT_PIXELS", None)
    if max_pixels and out_w * out_h > max_pixels:
        raise InvalidInput(f"Each frame would be {out_w}x{out_h}, over the output pixel limit; lower the outscale.")
    face_opts = prepare_faces(face_enhance, face_options, model_manager, config)
    output_dir = Path(output_dir or getattr(config, "OUTPUT_DIR", "outputs"))
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(describe_os_error(output_dir, error)) from None
    expected = info.estimated_frames if not max_seconds else min(
        info.estimated_frames or 10**9, int(np.ceil(max_seconds * float(info.fps))))
    check_disk(output_dir, expected, out_w, out_h)

    model_name = model_name or getattr(config, "DEFAULT_MODEL", "realesr-animevideov3")
    model = model_manager.load_model(model_name, gpu_id, fp32)
    options = UpscaleOptions(outscale=outscale, tile_px=tile_setting(tile, True),
                             pad_px=default_pad_px(model.architecture),
                             memory_reserve=getattr(config, "GPU_MEMORY_RESERVE", 0.1))
    encoder, container_format, extension = CODECS[codec]
    stem = sanitize_filename(output_name or path.stem)
    final = output_dir / f"{stem}_{sanitize_filename(suffix, 'out')}.{extension}"
    partial = output_dir / f".{final.name}.part"

    timing = {"decode": 0.0, "upscale": 0.0, "encode": 0.0}
    batch_size = frame_batch or frames_per_batch(model, info.height, info.width, options)
    frames_done = 0
    try:
        with open(path, "rb") as source, av.open(source, "r") as inp, \
                av.open(str(partial), "w", format=container_format) as out:
            vin = inp.streams.video[0]
            vin.thread_type = "AUTO"
            vout = out.add_stream(encoder, rate=info.fps)
            vout.width, vout.height, vout.pix_fmt = out_w, out_h, "yuv420p"
            vout.time_base = vin.time_base
            vout.codec_context.time_base = vin.time_base
            vout.options = {"crf": str(crf)} if encoder != "libvpx-vp9" else {"crf": str(crf), "b": "0"}
            audio_maps = _map_audio(inp, out, container_format)
            subtitle_maps = _map_subtitles(inp, out, container_format)
            limit_pts = (None if max_seconds is None else int(max_seconds / vin.time_base))
            encoder_state = FrameEncoder(model, options, vout, out, timing, batch_size, face_opts, model_manager, gpu_id)

            def report() -> None:
                if on_progress:
                    on_progress(encoder_state.frames, expected or encoder_state.frames,
                                f"frame {encoder_state.frames}/{expected or '?'}")
            stop = False
            # demux ends with an empty packet per stream, which flushes that stream's decoder
            for packet in inp.demux(vin, *audio_maps.keys(), *subtitle_maps.keys()):
                if should_cancel and should_cancel():
                    raise Cancelled("Cancelled; nothing was written.")
                stream = packet.stream
                if stream is vin:
                    t0 = time.perf_counter()
                    try:
                        frames = packet.decode()
                    except av.error.FFmpegError as error:
                        raise InvalidInput(f"{path.name}: frame {encoder_state.frames + len(encoder_state.pending) + 1} "
                                           f"cannot be decoded ({error.strerror}); "
                                           "the file is damaged or truncated.") from None
                    timing["decode"] += time.perf_counter() - t0
                    for frame in frames:
                        if limit_pts is not None and frame.pts is not None and frame.pts >= limit_pts:
                            stop = True
                            break
                        if encoder_state.add(frame):
                            report()
                    if stop:
                        break
                elif stream in audio_maps:
                    _mux_audio(packet, audio_maps[stream], out, max_seconds)
                elif stream in subtitle_maps and packet.dts is not None:
                    if max_seconds is None or packet.pts is None or packet.pts * stream.time_base < max_seconds:
                        packet.stream = subtitle_maps[stream]
                        out.mux(packet)
            encoder_state.flush()
            report()
            frames_done = encoder_state.frames
            for target in audio_maps.values():
                if isinstance(target, _AudioTranscode):
                    target.flush(out)
            t0 = time.perf_counter()
            for packet in vout.encode(None):
                out.mux(packet)
            timing["encode"] += time.perf_counter() - t0
        if frames_done == 0:
            raise InvalidInput(f"{path.name}: no frame could be decoded; the file is damaged or not a video.")
        if max_seconds is None and info.frames and frames_done < info.frames:
            raise InvalidInput(f"{path.name} ended after {frames_done} of {info.frames} frames; "
                               "the file is damaged or truncated.")
        partial.replace(final)
    except BaseException as error:
        partial.unlink(missing_ok=True)
        if isinstance(error, av.error.FFmpegError):
            raise InvalidInput(f"{path.name} could not be processed ({error.strerror}); "
                               "the file is damaged, truncated or unsupported.") from None
        if isinstance(error, OSError) and not isinstance(error, av.error.FFmpegError):
            raise OutputError(describe_os_error(final, error)) from None
        raise
    finally:
        if getattr(config, "ENABLE_MEMORY_OPTIMIZATION", True) and model.device.type != "cpu":
            GPUDetector.clear_gpu_cache(model.device.index)
    seconds = time.perf_counter() - started
    log.info("video %s: %d frames in %.1f s (decode %.1f, upscale %.1f, encode %.1f)", path.name, frames_done,
             seconds, timing["decode"], timing["upscale"], timing["encode"])
    return VideoResult(final, str(model.device), frames_done, info.fps, out_w, out_h, seconds, timing["decode"], timing["upscale"],
                       timing["encode"], len(audio_maps))


def frames_per_batch(model, height: int, width: int, options: UpscaleOptions, cap: int = 8) -> int:
    """How many whole frames to run at once: 1 on the CPU (no gain there) or when frames need tiles."""
    if model.device.type == "cpu" or choose_tile(model, height, width, options) != 0:
        return 1
    free = free_memory_bytes(model.device, options.memory_reserve)
    return max(1, min(cap, int(free // (height * width * bytes_per_input_pixel(model.architecture)))))


class FrameEncoder:
    """Collects decoded frames, upscales them (a batch at a time) and encodes them in order."""

    def __init__(self, model, options, vout, out, timing, batch_size, face_opts, model_manager, gpu_id):
        self.model, self.options, self.vout, self.out, self.timing = model, options, vout, out, timing
        self.batch_size, self.face_opts, self.model_manager, self.gpu_id = batch_size, face_opts, model_manager, gpu_id
        self.pending: list = []
        self.frames = 0

    def add(self, frame) -> bool:
        """Queue a frame; True when a batch was encoded."""
        t0 = time.perf_counter()
        self.pending.append((frame.to_ndarray(format="rgb24"), frame.pts, frame.time_base))
        self.timing["decode"] += time.perf_counter() - t0
        if len(self.pending) < self.batch_size:
            return False
        self.flush()
        return True

    def flush(self) -> None:
        if not self.pending:
            return
        t0 = time.perf_counter()
        images = [rgb for rgb, _, _ in self.pending]
        if len(images) > 1:
            upscaled = upscale_frames(self.model, images, self.options)
        else:
            upscaled = [upscale_pixels(self.model, images[0], self.options)[0]]
        results = []
        for rgb, pixels in zip(images, upscaled):
            if self.face_opts is not None:
                from engine.faces import restore_faces
                pixels, _ = restore_faces(rgb, pixels, model_manager=self.model_manager, gpu_id=self.gpu_id,
                                          options=self.face_opts)
            if pixels.shape[1] != self.vout.width or pixels.shape[0] != self.vout.height:
                pixels = resize(pixels, self.vout.width, self.vout.height)
            results.append(pixels)
        t1 = time.perf_counter()
        self.timing["upscale"] += t1 - t0
        for pixels, (_, pts, time_base) in zip(results, self.pending):
            new = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            new.pts, new.time_base = pts, time_base
            for packet in self.vout.encode(new):
                self.out.mux(packet)
        self.timing["encode"] += time.perf_counter() - t1
        self.frames += len(self.pending)
        self.pending = []


def upscale_frames(model, frames: list[np.ndarray], options: UpscaleOptions) -> list[np.ndarray]:
    """Same-sized RGB frames through the model in one batch, then to the outscale size."""
    batch = run_batch(model, frames, 255)
    out = []
    height, width = frames[0].shape[:2]
    target = output_size(width, height, options.outscale)
    for tensor in batch:
        pixels = np.rint(tensor.permute(1, 2, 0).numpy() * 255).clip(0, 255).astype(np.uint8)
        out.append(pixels if (pixels.shape[1], pixels.shape[0]) == target else resize(pixels, *target))
    return out


class _AudioTranscode:
    """Re-encode one audio stream for a container that cannot hold its codec."""

    def __init__(self, source, out, encoder: str):
        self.source = source
        rate = source.codec_context.sample_rate or 48000
        self.stream = out.add_stream(encoder, rate=48000 if encoder == "libopus" else rate)
        layout = source.codec_context.layout.name if source.codec_context.layout else "stereo"
        self.stream.layout = layout
        self.resampler = av.AudioResampler(format=self.stream.codec_context.format or "fltp", layout=layout,
                                           rate=self.stream.codec_context.sample_rate)

    def push(self, packet, out, max_seconds: float | None) -> None:
        for frame in packet.decode():
            if max_seconds is not None and frame.time is not None and frame.time >= max_seconds:
                return
            for resampled in self.resampler.resample(frame):
                for encoded in self.stream.encode(resampled):
                    out.mux(encoded)

    def flush(self, out) -> None:
        for encoded in self.stream.encode(None):
            out.mux(encoded)


def _map_audio(inp, out, container_format: str) -> dict:
    maps = {}
    for stream in inp.streams.audio:
        name = stream.codec_context.name
        if name in CONTAINER_AUDIO[container_format]:
            maps[stream] = out.add_stream_from_template(stream)
        else:
            log.info("audio codec %s does not fit %s; re-encoding it", name, container_format)
            maps[stream] = _AudioTranscode(stream, out, CONTAINER_AUDIO_FALLBACK[container_format])
    return maps


def _map_subtitles(inp, out, container_format: str) -> dict:
    maps = {}
    for stream in inp.streams.subtitles:
        if stream.codec_context.name in CONTAINER_SUBTITLES[container_format]:
            maps[stream] = out.add_stream_from_template(stream)
        else:
            log.info("subtitle codec %s cannot go into %s; it is left out", stream.codec_context.name,
                     container_format)
    return maps


def _mux_audio(packet, target, out, max_seconds: float | None) -> None:
    if isinstance(target, _AudioTranscode):
        target.push(packet, out, max_seconds)
        return
    if packet.dts is None:
        return
    if max_seconds is not None and packet.pts is not None and \
            (packet.pts + (packet.duration or 0)) * packet.stream.time_base > max_seconds + 1e-6:
        return
    packet.stream = target
    out.mux(packet)
