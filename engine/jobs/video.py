"""enhance_video_direct: decode with PyAV, upscale, encode, remux the other streams; streaming
(bounded memory, decode/model/encode overlapping in three threads), written to a temporary file
renamed only when complete.

What a player shows is kept: display matrix (rotation/flip), sample aspect ratio, colour matrix,
range, primaries and transfer, bit depth and chroma where the codec holds them (engine.jobs.video_format);
audio, subtitles, languages, titles and dispositions (engine.jobs.video_streams)."""
from __future__ import annotations

import logging
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av

from engine.job_config import JobConfig, Limits
from engine.jobs.entry import job_entry
from engine.jobs.image import pad_px, prepare_faces, tile_setting
from engine.jobs.video_format import PicturePlan, output_aspect, plan_pictures
from engine.jobs.video_frames import FrameItem, Pipeline, StageClock, from_rgb, to_rgb
from engine.jobs.video_streams import Cut, DecodeTimes, Muxer, StreamMap, copy_tags, map_streams, stream_seconds
from engine.models.manager import ModelManager
from engine.pixels.blend import intermediate_limit_message
from engine.pixels.inference import CancelCheck, DeviceOutOfMemory
from engine.pixels.upscale import (UpscaleOptions, bytes_per_input_pixel, choose_tile, edge_px_for, job_memory_bytes,
                                  upscale_batch, upscale_pixels)
from engine.request import EnhanceRequest
from utils.errors import InvalidInput, OutputError
from utils.files import describe_os_error
from utils.gpu import GPUDetector
from utils.images import resize
from utils.validation import sanitize_filename, validate_video_file
from utils.video_probe import VideoInfo, probe_video

log = logging.getLogger(__name__)

Codec = Literal["h264", "h265", "vp9", "av1"]
VIDEO_MODEL = "realesr-animevideov3"  # the default: made for video, fast
CODECS: dict[str, tuple[str, str, str]] = {  # name: (encoder, container format, extension)
    "h264": ("libx264", "mp4", "mp4"),
    "h265": ("libx265", "mp4", "mp4"),
    "vp9": ("libvpx-vp9", "webm", "webm"),
    "av1": ("libsvtav1", "mp4", "mp4"),
}
DEFAULT_CRF = {"h264": 18, "h265": 22, "vp9": 30, "av1": 30}
ENCODER_OPTIONS = {"libx265": {"x265-params": "log-level=error"}, "libvpx-vp9": {"b": "0"}}
BYTES_PER_OUTPUT_PIXEL_ESTIMATE = 0.15  # generous bits for a CRF-18 H.264 frame, for the disk check
TRUNCATION_TOLERANCE_S = 0.5  # how much earlier than the container's duration a file may end
IDENTITY_MATRIX = (65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30)


@dataclass
class VideoResult:
    output_path: Path
    device: str
    frames: int
    fps: Fraction
    width: int
    height: int
    seconds: float
    decode_seconds: float  # busy time of each stage; the stages overlap, so these add up to more
    upscale_seconds: float  # than `seconds` when the overlap works
    encode_seconds: float
    audio_streams: int
    subtitle_streams: int = 0
    pix_fmt: str = "yuv420p"
    partial: bool = False  # the source ended early and --keep-partial kept what was decoded
    notes: tuple[str, ...] = ()  # what was converted, or could not be kept, and why

    @property
    def summary(self) -> str:
        return (f"Enhanced {self.frames} frames to {self.width}x{self.height} in {self.seconds:.1f} s "
                f"({self.frames / max(self.seconds, 1e-9):.2f} frames/s)")

    @property
    def status(self) -> str:
        """The summary and every note, in one line (what the web UI shows)."""
        return self.summary + "".join(f"; {note}" for note in self.notes)


def even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def check_limits(path: Path, info: VideoInfo, limits: Limits, max_seconds: float | None) -> None:
    """Refuse what the container says is too long. What it does not say is counted while decoding."""
    duration = info.duration_s or 0
    limit_s = limits.max_video_seconds
    if limit_s and duration > limit_s and not (max_seconds and max_seconds <= limit_s):
        raise InvalidInput(f"{path.name} lasts {duration:.0f} s, over the {limit_s:.0f} s limit; use a preview "
                           "(max seconds) or raise REALESRGAN_MAX_VIDEO_SECONDS.")
    limit_frames = limits.max_video_frames
    frames = info.estimated_frames
    if max_seconds:
        frames = min(frames or 10**12, int(max_seconds * float(info.fps)) + 1)
    if limit_frames and frames > limit_frames:
        raise InvalidInput(f"{path.name} has about {frames} frames, over the {limit_frames} frame limit; use a "
                           "preview (max seconds) or raise REALESRGAN_MAX_VIDEO_FRAMES.")


def check_frame_size(path: Path, info: VideoInfo, limits: Limits, model_scale: int, out_w: int, out_h: int,
                     border_px: int = 0) -> None:
    """The image pixel limit applies to each frame; the output limit to the result and to the
    model's own (e.g. x4) intermediate with its mirrored border, before any model work."""
    pixels = info.width * info.height
    limit = limits.max_image_pixels
    if limit and pixels > limit:
        raise InvalidInput(f"{path.name}'s frames are {info.width}x{info.height} ({pixels / 1e6:.1f} MP), over the "
                           f"{limit / 1e6:.1f} MP image limit; downscale it or raise REALESRGAN_MAX_IMAGE_PIXELS.")
    limit = limits.max_output_pixels
    if limit and out_w * out_h > limit:
        raise InvalidInput(f"{path.name}: each frame would be {out_w}x{out_h} ({out_w * out_h / 1e6:.0f} MP), over "
                           f"the {limit / 1e6:.0f} MP output limit; lower the outscale or use a smaller video.")
    too_large = intermediate_limit_message(info.width + 2 * border_px, info.height + 2 * border_px, model_scale,
                                           1.0, False, limit)
    if too_large:
        raise InvalidInput(f"{path.name}: {too_large}")


def check_disk(output_dir: Path, frames: int, width: int, height: int) -> None:
    needed = frames * width * height * BYTES_PER_OUTPUT_PIXEL_ESTIMATE
    free = shutil.disk_usage(output_dir).free
    if needed > free:
        raise OutputError(f"The result needs about {needed / 2**30:.1f} GB but {output_dir} has "
                          f"{free / 2**30:.1f} GB free; free some space or use a preview.")


def video_defaults(config: JobConfig) -> EnhanceRequest:
    """A video job's defaults: the model made for video (not the server's default image model, which
    would take hours on a clip), x2, the server's precision."""
    return EnhanceRequest(model=VIDEO_MODEL, outscale=2, precision=config.precision)


@job_entry("video", video_defaults)
def enhance_video_direct(input_path: str | Path, request: EnhanceRequest, *, model_manager: ModelManager,
                         config: JobConfig, output_dir: str | Path | None = None, output_name: str | None = None,
                         on_progress: Callable[[int, int, str], None] | None = None,
                         should_cancel: CancelCheck | None = None, frame_batch: int | None = None,
                         keep_partial: bool = False) -> VideoResult:
    """Upscale every frame of a video as `request` says (its model, outscale, tile, precision,
    device, faces, codec, crf and `max_seconds`; called the seed's way too, see `engine/jobs/entry.py`),
    or its first `max_seconds`, counted from its first
    timestamp), keeping timestamps, rotation, aspect, colour, depth where the codec allows, audio and
    subtitles. Raises a `UserError` subclass for anything the user can fix; no output is left behind
    on failure or cancellation. A source that ends early is refused, or kept (and said so) with
    `keep_partial`. `frame_batch` frames go through the model at once (default: as many as fit in
    device memory when a whole frame fits, on GPUs; 1 on the CPU)."""
    started = time.perf_counter()
    path = Path(input_path)
    codec = request.codec.lower()
    crf = DEFAULT_CRF[codec] if request.crf is None else request.crf
    max_seconds, gpu_id, limits = request.max_seconds, request.device, config.limits
    ok, message = validate_video_file(path, max_bytes=limits.max_video_bytes)
    if not ok:
        raise InvalidInput(message)
    info = probe_video(path)
    check_limits(path, info, limits, max_seconds)
    outscale = request.outscale_for(info.width, info.height)
    out_w, out_h = even(info.width * outscale), even(info.height * outscale)
    spec = model_manager.models.get(request.model)  # custom models' scale is known once loaded (checked again)
    check_frame_size(path, info, limits, spec.scale if spec and spec.scale else 1, out_w, out_h)
    face_opts = prepare_faces(request, model_manager, config)
    output_dir = Path(output_dir or config.output_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(describe_os_error(output_dir, error)) from None
    expected = info.estimated_frames if not max_seconds else min(
        info.estimated_frames or 10**9, int(max_seconds * float(info.fps)) + 1)
    check_disk(output_dir, expected, out_w, out_h)

    model = model_manager.load_model(request.model, gpu_id, request.fp32, denoise_strength=request.denoise_strength)
    options = UpscaleOptions(outscale=outscale, tile_px=tile_setting(request), pad_px=pad_px(request, config, model),
                             memory_reserve=config.memory_reserve, memory_share=config.memory_share)
    check_frame_size(path, info, limits, model.scale, out_w, out_h, edge_px_for(options))
    encoder, container_format, extension = CODECS[codec]
    plan = plan_pictures(info, encoder)
    stem = sanitize_filename(output_name or path.stem)
    final = output_dir / f"{stem}_{sanitize_filename(request.suffix, 'out')}.{extension}"
    partial = output_dir / f".{final.name}.{secrets.token_hex(4)}.part"  # two jobs never share it
    batch_size = frame_batch or frames_per_batch(model, info.height, info.width, options)
    read_limits = ReadLimits(limits.max_video_frames, limits.max_video_seconds, max_seconds)
    clock = StageClock()
    notes = list(plan.notes)
    try:
        with open(path, "rb") as source, av.open(source, "r") as inp, \
                av.open(str(partial), "w", format=container_format) as out:
            vin = inp.streams.video[0]
            vin.thread_type = "AUTO"
            vout = add_video_stream(out, vin, info, plan, encoder, crf, out_w, out_h)
            streams = map_streams(inp, out, container_format)
            notes += streams.notes
            muxer = Muxer(out)
            reader = SourceReader(path.name, inp, vin, streams, muxer, Cut(info.start_s, max_seconds), plan,
                                  read_limits, keep_partial, clock)

            decode_times = DecodeTimes(max_delay_ticks=int(64 / (max(float(info.fps or 0), 1.0)
                                                                 * float(vin.time_base))) + 1)

            def write(item: FrameItem) -> None:
                for packet in vout.encode(from_rgb(item.pixels, plan, item.pts, item.time_base)):
                    muxer.mux(decode_times(packet))

            def report(done: int) -> None:
                if on_progress:
                    on_progress(done, max(expected, done), f"frame {done}/{expected or '?'}")
            upscaler = FrameUpscaler(model, options, out_w, out_h, face_opts, model_manager, gpu_id, should_cancel)
            pipeline = Pipeline(reader.frames_in, upscaler, write, batch_size, should_cancel, report, clock)
            frames_done = pipeline.run()
            if on_progress:
                on_progress(frames_done, frames_done, f"frame {frames_done}/{frames_done}")
            streams.flush(muxer)
            t0 = time.perf_counter()
            for packet in vout.encode(None):
                muxer.mux(decode_times(packet))
            clock.encode += time.perf_counter() - t0
        if frames_done == 0:
            raise InvalidInput(f"{path.name}: no frame could be decoded; the file is damaged or not a video.")
        short = reader.damage or (None if max_seconds is not None else ended_early(path.name, info, reader,
                                                                                 frames_done))
        if short and not keep_partial:
            raise InvalidInput(short)
        if short:
            notes.append(f"kept partial result ({frames_done} frames): {short}")
        elif info.frames is None and not info.duration_s:
            notes.append("the container states neither its frame count nor its duration, so an early end "
                         "could not be checked")
        partial.replace(final)
    except BaseException as error:
        partial.unlink(missing_ok=True)
        if isinstance(error, av.error.FFmpegError):
            raise InvalidInput(f"{path.name} could not be processed ({error.strerror}); "
                               "the file is damaged, truncated or unsupported.") from None
        if isinstance(error, OSError):
            raise OutputError(describe_os_error(final, error)) from None
        raise
    finally:
        if config.clear_device_cache and model.device.type != "cpu":
            GPUDetector.clear_gpu_cache(model.device.index)
    seconds = time.perf_counter() - started
    log.info("video %s: %d frames in %.1f s (busy: decode %.1f, upscale %.1f, encode %.1f)", path.name,
             frames_done, seconds, clock.decode, clock.upscale, clock.encode)
    return VideoResult(final, str(model.device), frames_done, info.fps, out_w, out_h, seconds, clock.decode,
                       clock.upscale, clock.encode, streams.audio, streams.subtitles, plan.pix_fmt,
                       bool(short), tuple(notes))


def add_video_stream(out, vin, info: VideoInfo, plan: PicturePlan, encoder: str, crf: int, width: int, height: int):
    vout = out.add_stream(encoder, rate=info.fps)
    vout.width, vout.height, vout.pix_fmt = width, height, plan.pix_fmt
    vout.time_base = vin.time_base
    context = vout.codec_context
    context.time_base = vin.time_base
    context.colorspace, context.color_range = plan.matrix, plan.color_range
    context.color_primaries, context.color_trc = plan.color_primaries, plan.color_trc
    aspect = output_aspect(info)
    if aspect:
        context.sample_aspect_ratio = aspect
    if info.display_matrix and tuple(info.display_matrix) != IDENTITY_MATRIX:
        vout.set_display_matrix(list(info.display_matrix))
    vout.options = {"crf": str(crf), **ENCODER_OPTIONS.get(encoder, {})}
    copy_tags(vin, vout)
    return vout


@dataclass(frozen=True)
class ReadLimits:
    max_frames: int | None  # config limits, enforced while decoding (the container may not say)
    max_seconds: float | None
    preview_seconds: float | None  # the user's preview: stop there, no error


class SourceReader:
    """Demuxes the source: video frames out as RGB arrays, every other packet straight to the
    output. Counts frames and seconds itself, so a file whose container states neither cannot pass
    the limits, and remembers where the packets ended, for the truncation check."""

    def __init__(self, name: str, inp, vin, streams: StreamMap, muxer: Muxer, cut: Cut, plan: PicturePlan,
                 limits: ReadLimits, keep_partial: bool, clock: StageClock):
        self.name, self.inp, self.vin, self.streams, self.muxer, self.cut = name, inp, vin, streams, muxer, cut
        self.plan, self.limits, self.keep_partial, self.clock = plan, limits, keep_partial, clock
        self.decoded = 0
        self.last_end_s: float | None = None
        self.damage: str | None = None

    def frames_in(self) -> Iterator[FrameItem]:
        video_done = False  # past the preview's end: only the other streams still need their part
        past_cut: set = set()
        for packet in self.inp.demux(self.vin, *self.streams.targets.keys()):
            start, end = stream_seconds(packet)
            if end is not None:
                self.last_end_s = end if self.last_end_s is None else max(self.last_end_s, end)
            if packet.stream is not self.vin:
                if video_done and start is not None and not self.cut.keeps(start):
                    past_cut.add(packet.stream)
                    if len(past_cut) == len(self.streams.targets):
                        return
                self.streams.push(packet, self.muxer, self.cut)
                continue
            if video_done:
                continue
            t0 = time.perf_counter()
            try:
                frames = packet.decode()  # the empty packet at the end flushes the decoder
            except av.error.FFmpegError as error:
                self.damage = (f"{self.name}: frame {self.decoded + 1} cannot be decoded ({error.strerror}); "
                               "the file is damaged or truncated.")
                if self.keep_partial:
                    return
                raise InvalidInput(self.damage) from None
            self.clock.decode += time.perf_counter() - t0
            for frame in frames:
                if self.cut.max_seconds is not None and frame.time is not None and not self.cut.keeps(frame.time):
                    video_done = True  # files need not be interleaved: audio for the preview may come later
                    break
                self.count(frame)
                t0 = time.perf_counter()
                pixels = to_rgb(frame, self.plan)
                self.clock.decode += time.perf_counter() - t0
                yield FrameItem(pixels, frame.pts, frame.time_base)
            if video_done and not self.streams.targets:
                return

    def count(self, frame) -> None:
        self.decoded += 1
        limit = self.limits.max_frames
        if limit and self.decoded > limit:
            raise InvalidInput(f"{self.name} has more than {limit} frames, over the frame limit; use a preview "
                               "(max seconds) or raise REALESRGAN_MAX_VIDEO_FRAMES.")
        limit_s = self.limits.max_seconds
        if limit_s and frame.time is not None and frame.time - self.cut.origin_s > limit_s:
            raise InvalidInput(f"{self.name} lasts more than {limit_s:.0f} s, over the limit; use a preview "
                               "(max seconds) or raise REALESRGAN_MAX_VIDEO_SECONDS.")


def ended_early(name: str, info: VideoInfo, reader: SourceReader, frames_done: int) -> str | None:
    """Why the file looks truncated (frame count, else duration from the container), or None."""
    if info.frames:
        if frames_done < info.frames:
            return f"{name} ended after {frames_done} of {info.frames} frames; the file is damaged or truncated."
        return None
    if info.duration_s and reader.last_end_s is not None:
        length = reader.last_end_s - info.container_start_s
        if length < info.duration_s - TRUNCATION_TOLERANCE_S:
            return (f"{name} ends after {length:.1f} s of its stated {info.duration_s:.1f} s; "
                    "the file is damaged or truncated.")
    return None


def frames_per_batch(model, height: int, width: int, options: UpscaleOptions, cap: int = 8) -> int:
    """How many whole frames to run at once: 1 on the CPU (no gain there) or when frames need tiles."""
    if model.device.type == "cpu" or choose_tile(model, height, width, options) != 0:
        return 1
    free = job_memory_bytes(model.device, options.memory_reserve, options.memory_share)
    return max(1, min(cap, free // (height * width * bytes_per_input_pixel(model.architecture))))


class FrameUpscaler:
    """A batch of decoded frames -> upscaled (faces restored if asked), at the output size. Frames
    go through the model together when they fit; when the device runs out of memory, one at a time
    through `upscale_pixels` (tiles, halved on further shortage), like any image."""

    def __init__(self, model, options: UpscaleOptions, width: int, height: int, face_opts, model_manager, gpu_id,
                 should_cancel: CancelCheck | None = None):
        self.model, self.options, self.width, self.height = model, options, width, height
        self.face_opts, self.model_manager, self.gpu_id = face_opts, model_manager, gpu_id
        self.should_cancel = should_cancel

    def __call__(self, batch: list[FrameItem]) -> list[FrameItem]:
        images = [item.pixels for item in batch]
        upscaled = None
        if len(images) > 1 and self.options.tile_px in (None, 0) and \
                choose_tile(self.model, *images[0].shape[:2], self.options) == 0:
            try:
                upscaled = upscale_batch(self.model, images, self.options, should_cancel=self.should_cancel)
            except DeviceOutOfMemory:
                GPUDetector.clear_gpu_cache()
                log.warning("out of memory with %d frames at once; going on one frame at a time", len(images))
        if upscaled is None:
            upscaled = [upscale_pixels(self.model, image, self.options, should_cancel=self.should_cancel)[0]
                        for image in images]
        results = []
        for item, pixels in zip(batch, upscaled):
            if self.face_opts is not None:
                from engine.faces.restore import restore_faces
                pixels, _ = restore_faces(item.pixels, pixels, model_manager=self.model_manager, gpu_id=self.gpu_id,
                                          options=self.face_opts, should_cancel=self.should_cancel)
            if pixels.shape[1] != self.width or pixels.shape[0] != self.height:
                pixels = resize(pixels, self.width, self.height)
            results.append(FrameItem(pixels, item.pts, item.time_base))
        return results

