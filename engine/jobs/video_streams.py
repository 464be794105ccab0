"""Every stream besides the picture: audio copied when the output container holds its codec and
re-encoded (with a proper channel layout) when not; text subtitles copied or converted to the
container's own format; languages, titles and dispositions kept; cuts made relative to the
video's first timestamp. Each choice is said in a note."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import av
from av.subtitles.subtitle import SubtitleSet

log = logging.getLogger(__name__)

# Audio and subtitle codecs each output container holds as they are; others are converted.
CONTAINER_AUDIO = {"mp4": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}, "webm": {"opus", "vorbis"}}
CONTAINER_AUDIO_FALLBACK = {"mp4": "aac", "webm": "libopus"}
CONTAINER_SUBTITLE = {"mp4": "mov_text", "webm": "webvtt"}
TEXT_SUBTITLES = {"subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text"}
DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
# The ASS header a text-subtitle encoder needs when the source (SRT, WebVTT) has none.
DEFAULT_ASS_HEADER = (
    "[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n[V4+ Styles]\n"
    "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
    "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, "
    "MarginL, MarginR, MarginV, Encoding\n"
    "Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0\n\n"
    "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n").encode()


def describe(stream) -> str:
    language = stream.metadata.get("language")
    return f"{stream.type} stream {stream.index} ({stream.codec_context.name}" + \
        (f", {language})" if language and language != "und" else ")")


def copy_tags(source, target) -> None:
    """Language, title and disposition (default, forced, hearing impaired, ...) of `source`."""
    for key in ("language", "title", "handler_name"):
        if source.metadata.get(key):
            target.metadata[key] = source.metadata[key]
    target.disposition = source.disposition


def layout_for(context) -> str:
    """A named channel layout for the encoder: the source's when it has one, else the default
    layout for its channel count (PCM in Matroska says only "2 channels")."""
    layout = context.layout
    channels = layout.nb_channels if layout else (context.channels or 2)
    if layout and not layout.name.endswith("channels"):
        return layout.name
    return DEFAULT_LAYOUTS.get(channels, "stereo")


@dataclass
class Cut:
    """Where the kept part ends, in seconds after the video's first timestamp (None: keep all)."""
    origin_s: float
    max_seconds: float | None

    def keeps(self, start_s: float | None, end_s: float | None = None) -> bool:
        if self.max_seconds is None or start_s is None:
            return True
        if end_s is not None:
            return end_s - self.origin_s <= self.max_seconds + 1e-6
        return start_s - self.origin_s < self.max_seconds


class AudioTranscode:
    """Re-encode one audio stream for a container that cannot hold its codec."""

    def __init__(self, source, out, encoder: str):
        context = source.codec_context
        rates = av.codec.Codec(encoder, "w").audio_rates or ()
        rate = context.sample_rate or 48000
        rate = rate if not rates or rate in rates else 48000
        self.stream = out.add_stream(encoder, rate=rate)
        layout = layout_for(context)
        self.stream.layout = layout
        self.resampler = av.AudioResampler(format=self.stream.codec_context.format or "fltp", layout=layout,
                                           rate=rate)

    def push(self, packet, out: "Muxer", cut: Cut) -> None:
        for frame in packet.decode():
            if not cut.keeps(frame.time):
                return
            for resampled in self.resampler.resample(frame):
                for encoded in self.stream.encode(resampled):
                    out.mux(encoded)

    def flush(self, out: "Muxer") -> None:
        for resampled in self.resampler.resample(None):
            for encoded in self.stream.encode(resampled):
                out.mux(encoded)
        for encoded in self.stream.encode(None):
            out.mux(encoded)


class SubtitleConvert:
    """Text subtitles decoded to their ASS events and encoded in the container's own format."""

    def __init__(self, source, out, encoder: str):
        self.stream = out.add_stream(encoder)
        context = source.codec_context
        self.stream.codec_context.subtitle_header = context.extradata if context.name in ("ass", "ssa") and \
            context.extradata else DEFAULT_ASS_HEADER
        self.stream.time_base = source.time_base

    def push(self, packet, out: "Muxer", cut: Cut) -> None:
        if packet.pts is None or not cut.keeps(float(packet.pts * packet.time_base)):
            return
        duration = packet.duration or 0
        for rect in packet.decode():
            text = getattr(rect, "ass", b"")
            if not text:
                continue
            end_ms = int(duration * packet.time_base * 1000)
            encoded = self.stream.codec_context.encode_subtitle(SubtitleSet.create(text, 0, end_ms, pts=0))
            encoded.stream, encoded.time_base = self.stream, packet.time_base
            encoded.pts = encoded.dts = packet.pts
            encoded.duration = duration
            out.mux(encoded)

    def flush(self, out: "Muxer") -> None:
        pass


@dataclass
class Muxer:
    """The output container, shared by the reader (audio, subtitles) and writer (video) threads."""
    container: object
    lock: threading.Lock = field(default_factory=threading.Lock)

    def mux(self, packet) -> None:
        with self.lock:
            self.container.mux(packet)


class DecodeTimes:
    """Mends the encoder's decode timestamps before muxing. libx265 sometimes stamps the packets of
    a one- or two-frame video with a garbage decode time (a huge constant offset; x265 issue #934),
    which the MP4 muxer refuses ("pts/dts pair unsupported"). When the first packet's decode time
    lies further before its presentation time than any encoder delay could (`max_delay_ticks`), the
    whole stream's decode times are shifted by the same amount so that they start at its pts."""

    def __init__(self, max_delay_ticks: int):
        self.max_delay_ticks = max_delay_ticks
        self.shift: int | None = None

    def __call__(self, packet):
        if packet.pts is None:
            return packet
        if self.shift is None:
            sane = packet.dts is not None and packet.pts - self.max_delay_ticks <= packet.dts <= packet.pts
            self.shift = 0 if sane else packet.pts - (packet.dts if packet.dts is not None else packet.pts)
            if not sane:
                log.info("the encoder gave a decode time of %s for pts %s; shifting the stream's by %s",
                         packet.dts, packet.pts, self.shift)
        if packet.dts is None:
            packet.dts = packet.pts
        elif self.shift:
            packet.dts += self.shift
        return packet


@dataclass
class StreamMap:
    targets: dict = field(default_factory=dict)  # source stream -> output stream or converter
    notes: list[str] = field(default_factory=list)
    audio: int = 0
    subtitles: int = 0

    def push(self, packet, out: Muxer, cut: Cut) -> None:
        target = self.targets[packet.stream]
        if isinstance(target, (AudioTranscode, SubtitleConvert)):
            target.push(packet, out, cut)
            return
        if packet.dts is None or packet.pts is None:
            return
        tb = packet.time_base
        end = float((packet.pts + (packet.duration or 0)) * tb)
        if packet.stream.type == "audio" and not cut.keeps(float(packet.pts * tb), end):
            return
        if packet.stream.type == "subtitle" and not cut.keeps(float(packet.pts * tb)):
            return
        packet.stream = target
        out.mux(packet)

    def flush(self, out: Muxer) -> None:
        for target in self.targets.values():
            if isinstance(target, (AudioTranscode, SubtitleConvert)):
                target.flush(out)


def map_streams(inp, out, container_format: str) -> StreamMap:
    """Output streams for every audio and subtitle stream of `inp`, with a note for each one that
    was converted or could not be kept."""
    result = StreamMap()
    for stream in inp.streams.audio:
        name = stream.codec_context.name
        if name in CONTAINER_AUDIO[container_format]:
            target = out.add_stream_from_template(stream)
            copy_tags(stream, target)
        else:
            encoder = CONTAINER_AUDIO_FALLBACK[container_format]
            target = AudioTranscode(stream, out, encoder)
            copy_tags(stream, target.stream)
            result.notes.append(f"{describe(stream)} re-encoded to {encoder.removeprefix('lib')} "
                                f"({layout_for(stream.codec_context)}): {container_format.upper()} cannot hold {name}")
        result.targets[stream] = target
        result.audio += 1
    wanted = CONTAINER_SUBTITLE[container_format]
    for stream in inp.streams.subtitles:
        name = stream.codec_context.name
        if name == wanted:
            target = out.add_stream_from_template(stream)
            copy_tags(stream, target)
        elif name in TEXT_SUBTITLES:
            target = SubtitleConvert(stream, out, wanted)
            copy_tags(stream, target.stream)
            result.notes.append(f"{describe(stream)} converted to {wanted}"
                                + (" (ASS styling and positions are not kept)" if name in ("ass", "ssa") else ""))
        else:
            result.notes.append(f"{describe(stream)} left out: it is a picture subtitle, which "
                                f"{container_format.upper()} cannot hold")
            continue
        result.targets[stream] = target
        result.subtitles += 1
    others = [s for s in inp.streams if s.type not in ("video", "audio", "subtitle")]
    if len(inp.streams.video) > 1:
        result.notes.append(f"{len(inp.streams.video) - 1} extra video stream(s) (e.g. a cover picture) left out")
    if others:
        result.notes.append(f"{len(others)} data/attachment stream(s) left out")
    for note in result.notes:
        log.info("video streams: %s", note)
    return result


def stream_seconds(packet) -> tuple[float | None, float | None]:
    """(start, end) of a demuxed packet in seconds, None where unknown."""
    if packet.pts is None:
        return None, None
    start = packet.pts * packet.time_base
    return float(start), float(start + (packet.duration or 0) * packet.time_base)

