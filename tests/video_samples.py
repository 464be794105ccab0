"""Small videos made with PyAV for the video tests: each one has exactly the property under test."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.subtitles.subtitle import SubtitleSet

from engine.jobs.video_streams import DEFAULT_ASS_HEADER

W, H, FPS = 64, 48, 10
ASS_HEADER = DEFAULT_ASS_HEADER  # a valid [Script Info]/[V4+ Styles] header for the generated ASS tracks


def picture(i: int, width: int = W, height: int = H) -> np.ndarray:
    """A moving diagonal pattern, so frames differ and the model has edges to work on."""
    y, x = np.mgrid[0:height, 0:width]
    return np.dstack([(x * 4 + i * 9) % 256, (y * 5) % 256, ((x + y) * 3 + i * 20) % 256]).astype(np.uint8)


def make_video(path: Path, *, frames: int = 10, encoder: str = "libx264", pix_fmt: str = "yuv420p",
               fmt: str | None = None, start_s: float = 0.0, rotation: int | None = None, sar: Fraction | None = None,
               colour: dict | None = None, pictures=None, audio: list[dict] | None = None,
               subtitles: list[dict] | None = None, container_options: dict | None = None,
               width: int = W, height: int = H) -> Path:
    """A video of `frames` frames at 10 fps. `audio`: dicts with codec, layout, language, title,
    default; `subtitles`: dicts with codec (subrip/ass), language, events [(start_s, end_s, text)]."""
    with av.open(str(path), "w", format=fmt, container_options=container_options or {}) as out:
        video = out.add_stream(encoder, rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.time_base = video.codec_context.time_base = Fraction(1, 1000)
        if encoder == "libx265":
            video.options = {"x265-params": "log-level=error"}
        if sar:
            video.codec_context.sample_aspect_ratio = sar
        for key, value in (colour or {}).items():
            setattr(video.codec_context, key, value)
        if rotation is not None:
            video.set_display_rotation(rotation)
        audio_streams = []
        for spec in audio or []:
            stream = out.add_stream(spec["codec"], rate=48000)
            stream.layout = spec.get("layout", "stereo")
            for key in ("language", "title"):
                if spec.get(key):
                    stream.metadata[key] = spec[key]
            if spec.get("default"):
                stream.disposition = av.stream.Disposition.default
            audio_streams.append(stream)
        subtitle_streams = []
        for spec in subtitles or []:
            stream = out.add_stream(spec["codec"])
            stream.codec_context.subtitle_header = ASS_HEADER
            stream.metadata["language"] = spec["language"]
            subtitle_streams.append((stream, spec))
        start_ms = int(round(start_s * 1000))
        for i in range(frames):
            pixels = pictures(i) if pictures else picture(i, width, height)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb48le" if pixels.dtype == np.uint16 else "rgb24")
            frame = frame.reformat(format=pix_fmt, **_colour_args(colour))
            for key, value in (colour or {}).items():
                setattr(frame, key, value)
            frame.pts, frame.time_base = start_ms + i * 1000 // FPS, Fraction(1, 1000)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        for stream in audio_streams:
            _write_tone(out, stream, frames / FPS, start_s)
        for stream, spec in subtitle_streams:
            for start, end, text in spec["events"]:
                line = f"0,0,Default,,0,0,0,,{text}".encode()
                packet = stream.codec_context.encode_subtitle(SubtitleSet.create(line, 0, int((end - start) * 1000)))
                packet.stream, packet.time_base = stream, Fraction(1, 1000)
                packet.pts = packet.dts = int(round((start + start_s) * 1000))
                packet.duration = int(round((end - start) * 1000))
                out.mux(packet)
    return path


def _colour_args(colour: dict | None) -> dict:
    if not colour:
        return {}
    return {"dst_colorspace": {1: 1, 5: 5, 6: 5}.get(colour.get("colorspace"), 5),
            "dst_color_range": colour.get("color_range", 1)}


def _write_tone(out, stream, seconds: float, start_s: float) -> None:
    context = stream.codec_context
    channels = stream.layout.nb_channels if hasattr(stream, "layout") else 2
    fmt = av.AudioFormat(context.format.name)
    rate, size = 48000, 1024
    total = int(seconds * rate)
    for start in range(0, total, size):
        n = min(size, total - start)
        t = (np.arange(start, start + n) / rate)[None, :]
        wave = np.repeat(0.3 * np.sin(2 * np.pi * 440 * t), channels, axis=0).astype(np.float32)
        if fmt.name.startswith("s16"):
            wave = (wave * 32767).astype(np.int16)
        if not fmt.is_planar:
            wave = wave.T.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(wave, format=fmt.name, layout=stream.layout.name)
        frame.sample_rate = rate
        frame.pts, frame.time_base = start + int(start_s * rate), Fraction(1, rate)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)


def truncate(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    cut = path.with_name(f"cut_{path.name}")
    cut.write_bytes(data[: int(len(data) * fraction)])
    return cut
