"""Probe a video in a child process: a damaged file can crash FFmpeg's demuxer, and a crash there
must become an error message, not a dead server."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from utils.errors import InvalidInput

# Demuxers we let parse uploads (no playlists, concat lists or network protocols).
ALLOWED_FORMATS = {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi"}
PROBE_TIMEOUT_S = 30


@dataclass(frozen=True)
class VideoInfo:
    format_name: str
    width: int
    height: int
    codec: str
    fps: Fraction
    time_base: Fraction
    frames: int | None  # from the container; None where it does not say (often MKV/WebM)
    duration_s: float | None  # the container's (or the video stream's) length; None when unknown
    audio_codecs: list[str] = field(default_factory=list)
    subtitle_codecs: list[str] = field(default_factory=list)
    pix_fmt: str = "yuv420p"
    start_s: float = 0.0  # the video stream's first timestamp, in seconds
    container_start_s: float = 0.0  # the earliest timestamp of any stream
    sample_aspect_ratio: Fraction | None = None  # None or 1: square pixels
    display_matrix: tuple[int, ...] | None = None  # FFmpeg's 9-int AV_PKT_DATA_DISPLAYMATRIX (rotation/flip)
    rotation: int = 0  # counter-clockwise degrees the player turns the picture (from the matrix)
    color_primaries: int = 2  # FFmpeg's AVColorPrimaries / AVColorTransferCharacteristic /
    color_trc: int = 2  # AVColorSpace / AVColorRange numbers; 2 (0 for range) = not tagged
    colorspace: int = 2
    color_range: int = 0

    @property
    def estimated_frames(self) -> int:
        if self.frames:
            return self.frames
        return int(round((self.duration_s or 0) * float(self.fps))) if self.fps else 0


def _first_frame_facts(container, video) -> dict:
    """Display matrix and colour tags as the decoder reports them on the first frame (the stream
    parameters do not always carry them)."""
    import av
    from av.sidedata.sidedata import Type
    try:
        frame = next(container.decode(video))
    except (StopIteration, av.error.FFmpegError):
        return {}
    matrix = frame.side_data.get(Type.DISPLAYMATRIX)
    facts = {"color_primaries": frame.color_primaries, "color_trc": frame.color_trc,
             "colorspace": frame.colorspace, "color_range": frame.color_range}
    if matrix is not None:
        facts["display_matrix"] = list(memoryview(matrix).cast("i"))[:9]
        facts["rotation"] = int(round(frame.rotation or 0))
    return facts


def probe_dict(path: str) -> dict:
    """What the child process prints: the stream facts, or {"error": text}."""
    try:
        import av
        with open(path, "rb") as handle, av.open(handle, "r") as container:
            if not container.streams.video:
                return {"error": "has no video stream"}
            video = container.streams.video[0]
            context = video.codec_context
            duration = (float(video.duration * video.time_base) if video.duration else
                        (container.duration / 1_000_000 if container.duration else None))
            fps = video.average_rate or video.guessed_rate or 0
            start = video.start_time
            sar = context.sample_aspect_ratio or video.sample_aspect_ratio
            facts = dict(
                format_name=container.format.name, width=context.width,
                height=context.height, codec=context.name,
                fps=str(Fraction(fps)), time_base=str(Fraction(video.time_base)), frames=video.frames or None,
                duration_s=duration, audio_codecs=[s.codec_context.name for s in container.streams.audio],
                subtitle_codecs=[s.codec_context.name for s in container.streams.subtitles],
                pix_fmt=context.pix_fmt or "yuv420p",
                start_s=float(start * video.time_base) if start is not None else 0.0,
                container_start_s=container.start_time / 1_000_000 if container.start_time else 0.0,
                sample_aspect_ratio=str(Fraction(sar)) if sar else None,
                color_primaries=context.color_primaries, color_trc=context.color_trc,
                colorspace=context.colorspace, color_range=context.color_range)
            facts.update(_first_frame_facts(container, video))
            return facts
    except Exception as error:  # reported to the parent as text; the parent words it for the user
        return {"error": f"cannot be read ({type(error).__name__})"}


CHILD = ("import json, sys; sys.path.insert(0, sys.argv[1]); from utils.video_probe import probe_dict; "
         "print(json.dumps(probe_dict(sys.argv[2])))")


def probe_video(path: Path, timeout_s: float = PROBE_TIMEOUT_S) -> VideoInfo:
    root = str(Path(__file__).resolve().parent.parent)
    try:
        child = subprocess.run([sys.executable, "-c", CHILD, root, str(path)], capture_output=True, text=True,
                               timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise InvalidInput(f"{path.name} took too long to open; it may be damaged.") from None
    try:
        payload = json.loads(child.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise InvalidInput(f"{path.name} crashed the video reader (exit code {child.returncode}); "
                           "it is damaged or truncated.") from None
    if "error" in payload:
        raise InvalidInput(f"{path.name} {payload['error']}; it is damaged, truncated or not a video.")
    payload["fps"], payload["time_base"] = Fraction(payload["fps"]), Fraction(payload["time_base"])
    if payload.get("sample_aspect_ratio"):
        payload["sample_aspect_ratio"] = Fraction(payload["sample_aspect_ratio"])
    if payload.get("display_matrix"):
        payload["display_matrix"] = tuple(payload["display_matrix"])
    info = VideoInfo(**payload)
    if info.format_name not in ALLOWED_FORMATS:
        raise InvalidInput(f"{path.name} is a {info.format_name} file; use MP4, MOV, MKV, WebM or AVI.")
    if not info.width or not info.height or not info.fps:
        raise InvalidInput(f"{path.name} has no usable video stream (no size or frame rate).")
    return info
