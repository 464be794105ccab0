"""One job's settings: a frozen, typed `EnhanceRequest`, validated once where it is built.

Every front end builds one (the UI from its controls, the CLI from its flags, presets and the last
used settings from their JSON, history's "run again" from a recorded job, batch, Ray and video from
their caller's) and the engine reads only its fields. Adding a control is one field here, its widget
and its flag. A key that is not a field is an error, so a mistyped setting never goes unnoticed;
the seed's keyword names (`fp32`, `gpu_id`, `scale`, `face_options`) are accepted as aliases.
"""
from __future__ import annotations

import dataclasses
import difflib
import logging
import types
import typing
from dataclasses import dataclass
from typing import Any, Mapping

from engine.faces.restore import FaceOptions
from engine.pixels.blend import check_blend_weight
from engine.pixels.upscale import check_outscale
from utils.errors import InvalidInput
from utils.validation import validate_tile_size

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32")
ALPHA_MODES = ("realesrgan", "bicubic")
FORMATS = ("auto", "png", "jpg", "webp")
CODECS = ("h264", "h265", "vp9", "av1")
TRUTH = {"true": True, "on": True, "1": True, "false": False, "off": False, "0": False}
# What only one kind of job applies (the rest apply to both).
VIDEO_ONLY = frozenset({"codec", "crf", "max_seconds"})
IMAGE_ONLY = frozenset({"alpha_upsampler", "output_format", "quality", "strip_metadata", "blend_model", "blend_weight",
                        "double_pass", "name_template", "overwrite"})


@dataclass(frozen=True)
class EnhanceRequest:
    """What one image, batch or video job is asked to do."""
    model: str = "RealESRGAN_x4plus"
    outscale: float = 4.0  # the final scale, 1..8
    size: str = ""  # instead of outscale: "1920x" (width), "x1080" (height) or "1920x1080" (fit within), aspect kept
    tile: int = 0  # tile side in pixels; 0: automatic
    auto_tile: bool = True  # with tile 0: False runs the whole image at once
    tile_pad: int | None = None  # tile overlap in pixels; None: the architecture's (engine/models/profiles.py)
    precision: str = "auto"  # auto: fp16 on GPUs, bf16 on CPUs that have it; fp32: full precision
    device: str | int | None = None  # None: the best device; "cpu", "cuda:1", or a GPU index
    face_enhance: bool = False
    face_restorer: str = "GFPGANv1.4"
    face_fidelity: float = 0.0  # 0: the fully restored face .. 1: the original face
    face_only_center: bool = False
    face_max: int = 20
    face_aligned: bool = False  # the input is one already aligned 512x512 face
    denoise_strength: float = 0.5  # realesr-general-x4v3 only
    alpha_upsampler: str = "realesrgan"
    output_format: str = "auto"
    quality: int = 95  # JPEG/WebP
    strip_metadata: bool = False
    blend_model: str = ""  # "": no second model
    blend_weight: float = 0.5  # the second model's share, 0..1
    double_pass: bool = False
    name_template: str = ""  # "": <stem>_<suffix>.<ext>
    suffix: str = "out"
    overwrite: bool = True
    codec: str = "h264"  # video only
    crf: int | None = None  # video only; None: the codec's default
    max_seconds: float | None = None  # video only; None: the whole video

    def __post_init__(self) -> None:
        check_request(self)

    def outscale_for(self, width: int, height: int) -> float:
        """The scale this request gives an input of `width` x `height` pixels: `outscale`, or the
        one that brings it to `size` (the largest that fits both sides given), keeping its aspect."""
        if not self.size:
            return self.outscale
        target_w, target_h = parse_size(self.size)
        scale = min(target / side for target, side in ((target_w, width), (target_h, height)) if target)
        if scale < 1:
            raise InvalidInput(f"The image ({width}x{height}) is already larger than {self.size}; choose a larger "
                               "size (this tool only enlarges).")
        if scale > 8:
            raise InvalidInput(f"{self.size} is more than 8 times the image ({width}x{height}); choose a smaller size.")
        return scale

    @property
    def fp32(self) -> bool:
        return self.precision == "fp32"

    def face_options(self) -> FaceOptions:
        return FaceOptions(restorer=self.face_restorer, fidelity=self.face_fidelity,
                           only_center_face=self.face_only_center, max_faces=self.face_max,
                           aligned=self.face_aligned)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, base: "EnhanceRequest | None" = None,
                  lenient_where: str | None = None) -> "EnhanceRequest":
        """`data` (aliases allowed) over `base` (default: the defaults). Unknown keys and bad values
        raise InvalidInput, unless `lenient_where` names a stored file being read: then they are
        logged and skipped, so an older or newer file never breaks start-up."""
        base = base or cls()
        values: dict[str, Any] = {}
        for alias, name in (("scale", "outscale"), ("model_name", "model"), ("fp32", "precision"), ("gpu_id", "device")):
            if alias in data and name in data:
                if lenient_where is None:
                    raise InvalidInput(f"Both {alias!r} and {name!r} were given; give one.")
                data = {k: v for k, v in data.items() if k != alias}
        for key, value in data.items():
            try:
                values.update({name: coerce(name, v) for name, v in unalias({key: value}).items()
                               if v is not None or optional(name)})  # None: the base's value
            except InvalidInput as error:
                if lenient_where is None:
                    raise
                log.warning("%s: %s It is left out.", lenient_where, error)
        if lenient_where is None:
            return dataclasses.replace(base, **values)
        values = {k: v for k, v in values.items() if not is_invalid(base, k, v, lenient_where)}
        while True:  # values fine alone may still clash (a size and a double pass): drop the last ones
            try:
                return dataclasses.replace(base, **values)
            except InvalidInput as error:
                dropped = values.popitem()[0]
                log.warning("%s: %s %r is left out.", lenient_where, error, dropped)

    def checked_for(self, kind: str) -> "EnhanceRequest":
        """Itself, when every setting it changes from the defaults is one a `kind` ("image",
        "video") job applies: a video job given a second model, say, refuses it rather than
        silently leaving it out."""
        unused = VIDEO_ONLY if kind == "image" else IMAGE_ONLY if kind == "video" else frozenset()
        default = EnhanceRequest()
        changed = sorted(name for name in unused if getattr(self, name) != getattr(default, name))
        if changed:
            raise InvalidInput(f"{kind.capitalize()} jobs do not use {', '.join(changed)}; leave "
                               f"{'it' if len(changed) == 1 else 'them'} out.")
        return self

    def with_changes(self, **changes: Any) -> "EnhanceRequest":
        """A copy with `changes` (aliases allowed), validated like `from_dict`."""
        return EnhanceRequest.from_dict(changes, base=self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELDS = {f.name: f for f in dataclasses.fields(EnhanceRequest)}
HINTS = typing.get_type_hints(EnhanceRequest)


def unalias(data: Mapping[str, Any]) -> dict[str, Any]:
    """The seed's keyword names as fields; anything else unknown is an error."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("scale", "outscale"):
            out["outscale"] = value
        elif key in ("model", "model_name"):
            out["model"] = value
        elif key == "fp32":
            out["precision"] = "fp32" if value else "auto"
        elif key == "gpu_id":
            out["device"] = value
        elif key == "face_options":
            out.update(face_fields(value))
        elif key in FIELDS:
            out[key] = value
        else:
            close = difflib.get_close_matches(key, FIELDS, n=2)
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            raise InvalidInput(f"Unknown setting {key!r}{hint}; see EnhanceRequest for the settings a job takes.")
    return out


def face_fields(options: Any) -> dict[str, Any]:
    """FaceOptions (or its dict) as request fields."""
    if options is None:
        return {}
    if isinstance(options, Mapping):
        data = options
    elif dataclasses.is_dataclass(options) and not isinstance(options, type):
        data = dataclasses.asdict(options)
    else:
        raise InvalidInput(f"Face options must be a FaceOptions or a dict, not {type(options).__name__}.")
    names = {"restorer": "face_restorer", "fidelity": "face_fidelity", "only_center_face": "face_only_center",
             "max_faces": "face_max", "aligned": "face_aligned"}
    unknown = set(data) - set(names)
    if unknown:
        raise InvalidInput(f"Unknown face option {sorted(unknown)[0]!r}; use {', '.join(names)}.")
    return {names[k]: v for k, v in data.items()}


def optional(key: str) -> bool:
    hint = HINTS[key]
    return isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)


def coerce(key: str, value: Any) -> Any:
    """`value` as the field's type: numbers from text or floats (a UI sends 4.0 for a whole number),
    booleans from booleans or true/false/on/off/1/0, "" or None as None where None is allowed."""
    hint = HINTS[key]
    allowed = set(typing.get_args(hint)) if isinstance(hint, types.UnionType) else {hint}
    if value is None or (value == "" and type(None) in allowed and str not in allowed):
        if type(None) in allowed:
            return None
        raise InvalidInput(f"The setting {key!r} needs a value.")
    if bool in allowed:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in TRUTH:  # an HTML form's or a URL's text
            return TRUTH[value.strip().lower()]
        if isinstance(value, int) and value in (0, 1):  # JSON from languages without booleans
            return bool(value)
        raise InvalidInput(f"The setting {key!r} is on or off (true or false), not {value!r}.")
    if isinstance(value, bool):  # True is not the number 1 here
        raise InvalidInput(f"The setting {key!r} is a number, not {value!r}.")
    try:
        if int in allowed and not isinstance(value, str) and float(value) == int(value):
            return int(value)
        if int in allowed and str in allowed:  # a device: a GPU index or a name
            return int(value) if str(value).isdigit() else str(value)
        if str in allowed and isinstance(value, str):
            return value
        if float in allowed:
            return float(value)
        if int in allowed:
            return int(str(value).strip())
    except (TypeError, ValueError, OverflowError):
        pass
    raise InvalidInput(f"The setting {key!r} cannot be {value!r}.")


def parse_size(text: str) -> tuple[int | None, int | None]:
    """"1920x1080", "1920x" or "x1080" as (width, height), None for a side left free."""
    width, sep, height = text.lower().replace(" ", "").partition("x")
    try:
        sides = tuple(int(side) if side else None for side in (width, height))
    except ValueError:
        sides = (None, None)
    if not sep or sides == (None, None) or any(side is not None and not 1 <= side <= 65535 for side in sides):
        raise InvalidInput(f"Size {text!r} is not a size; write WIDTHxHEIGHT to fit within it, WIDTHx or xHEIGHT.")
    return sides  # type: ignore[return-value]


def check_request(request: EnhanceRequest) -> None:
    """Ranges and choices; one sentence for the first thing wrong."""
    if request.size:
        parse_size(request.size)
        if request.double_pass:
            raise InvalidInput("An exact size and a double pass do not go together; choose one.")
    check_outscale(request.outscale)
    ok, message = validate_tile_size(request.tile)
    if not ok:
        raise InvalidInput(message)
    check_blend_weight(request.blend_weight)
    request.face_options().checked()
    checks = [
        (request.tile_pad is None or 0 <= request.tile_pad <= 256,
         f"Tile overlap {request.tile_pad} is out of range; use 0 to 256 pixels."),
        (request.precision in PRECISIONS, f"Precision {request.precision!r} is not known; use auto or fp32."),
        (0 <= request.denoise_strength <= 1,
         f"Denoise strength {request.denoise_strength} is out of range; use 0 to 1."),
        (request.alpha_upsampler in ALPHA_MODES,
         f"Alpha mode {request.alpha_upsampler!r} is not supported; use realesrgan or bicubic."),
        (request.output_format.lower() in (*FORMATS, "jpeg"),
         f"Output format {request.output_format!r} is not supported; use auto, png, jpg or webp."),
        (1 <= request.quality <= 100, f"Quality {request.quality} is out of range; use 1 to 100."),
        (request.codec.lower() in CODECS, f"Codec {request.codec!r} is not supported; use h264, h265, vp9 or av1."),
        (request.crf is None or 0 <= request.crf <= 63, f"CRF {request.crf} is out of range; use 0 to 63."),
        (request.max_seconds is None or request.max_seconds > 0,
         f"The preview length {request.max_seconds} s must be above 0."),
        (bool(request.model), "Choose a model."),
    ]
    for ok, message in checks:
        if not ok:
            raise InvalidInput(message)


def is_invalid(base: EnhanceRequest, key: str, value: Any, where: str) -> bool:
    """For lenient reads: whether `value` fails the range checks (logged) when set alone on `base`."""
    try:
        dataclasses.replace(base, **{key: value})
        return False
    except InvalidInput as error:
        log.warning("%s: %s Using %r instead.", where, error, getattr(base, key))
        return True
