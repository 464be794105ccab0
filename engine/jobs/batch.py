"""process_batch: many images, one model, every item accounted for (ok, skipped or failed)."""
from __future__ import annotations

import logging
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.job_config import JobConfig, job_config
from engine.jobs.image import enhance_image_direct, image_defaults
from engine.jobs.job_control import ClientGone, TimeLimitExceeded
from engine.jobs.naming import check_template, distinct_stems, template_parts
from engine.jobs.resume import add_to_manifest, find_in_manifest, settings_key
from engine.pixels.inference import CancelCheck
from engine.request import EnhanceRequest
from utils.errors import Cancelled, InvalidInput, UserError, describe_error
from utils.files import atomic_path, file_sha256
from utils.images import ACCEPTED_EXTENSIONS

if TYPE_CHECKING:
    from config import AppConfig

log = logging.getLogger(__name__)

ItemProgress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class BatchItem:
    input_path: Path
    status: str  # "ok", "skipped" (resume: already done) or "failed"
    output_path: Path | None = None
    error: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class BatchResult:
    items: list[BatchItem]
    zip_path: Path | None = None
    stopped: str = ""  # why the batch stopped early (time limit, client gone), if it did

    @property
    def succeeded(self) -> int:
        return sum(item.status in ("ok", "skipped") for item in self.items)

    @property
    def failed(self) -> int:
        return sum(item.status == "failed" for item in self.items)

    def summary(self) -> str:
        text = f"{self.succeeded} successful, {self.failed} failed"
        return f"{text}; {self.stopped}" if self.stopped else text

    def table(self) -> list[list[str]]:
        return [[item.input_path.name, item.status, item.output_path.name if item.output_path else "",
                 item.error, f"{item.seconds:.1f}"] for item in self.items]


def folder_inside(root: Path, requested: str | Path) -> Path:
    """`requested` resolved inside `root`; anything outside it (.., absolute, symlinks) is refused."""
    root = Path(root).resolve()
    if "\x00" in str(requested):
        raise InvalidInput("The folder name contains a NUL character; type the folder's name as it is.")
    candidate = (root / requested).resolve()
    if not candidate.is_relative_to(root):
        raise InvalidInput(f"The folder {str(requested)!r} is outside the input folder {root}; "
                           "put the images inside it.")
    if not candidate.is_dir():
        raise InvalidInput(f"There is no folder {str(requested)!r} in {root}.")
    return candidate


def images_in(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files in `folder` (and its subfolders when `recursive`), sorted; links are not followed
    out of the tree."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    root = folder.resolve()
    return sorted(p for p in found if p.is_file() and p.suffix.lower() in ACCEPTED_EXTENSIONS
                  and p.resolve().is_relative_to(root))


def new_batch_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + f"{time.time_ns() % 1_000_000:06d}"


def target_folder(output_dir: Path, source: Path, input_root: str | Path | None) -> Path:
    """Where `source`'s result goes: its mirror of `source`'s folder under `input_root` when it lies
    there, else `output_dir`."""
    if input_root and source.parent.is_relative_to(input_root):
        return output_dir / source.parent.relative_to(input_root)
    return output_dir


@dataclass(frozen=True)
class BatchPlan:
    """What a batch decides once, for the local and the Ray runner alike: where each result goes,
    its stem (distinct within its folder), the settings key, and how finished items are recognised."""
    output_dir: Path
    input_root: Path | None
    key: str
    stems: dict[Path, str]
    history: Any = None

    @classmethod
    def make(cls, inputs: list[Path], output_dir: Path, input_root: str | Path | None, request: EnhanceRequest,
             history=None) -> "BatchPlan":
        if request.name_template:
            check_batch_template(request.name_template)
        root = Path(input_root) if input_root else None
        by_folder: dict[Path, list[Path]] = {}
        for source in inputs:
            by_folder.setdefault(target_folder(output_dir, source, root), []).append(source)
        stems: dict[Path, str] = {}
        for group in by_folder.values():
            stems.update(distinct_stems(group))
        key = settings_key(request.to_dict())
        return cls(Path(output_dir), root, key, stems, history)

    def target(self, source: Path) -> Path:
        return target_folder(self.output_dir, source, self.input_root)

    def done_before(self, source: Path, digest: str | None) -> Path | None:
        """A result these settings already made from this input (its name and content), unchanged
        since: in the manifest of the batch's folder (in the item's own subfolder), else in the
        history (the caller's own, when it is one user's view)."""
        if digest is None:
            return None
        found = find_in_manifest(self.output_dir, source.name, digest, self.key)
        if found is not None and found.parent != self.target(source).resolve():
            found = None
        if found is None and self.history is not None:
            found = self.history.find_output(source.name, digest, self.key)
        return found

    def note(self, source: Path, digest: str | None, output: Path | None) -> None:
        if digest and output:
            add_to_manifest(self.output_dir, source.name, digest, self.key, output)


def check_batch_template(template: str) -> str:
    """A batch's template must name each image after itself, else every result gets one name."""
    check_template(template)
    if not any(placeholder and text == "stem" for text, placeholder in template_parts(template)):
        raise InvalidInput("A batch's name template must contain {stem}, or every image would get the same name "
                           "(e.g. {stem}_{model}.{ext}).")
    return template


def batch_request(config: JobConfig | AppConfig | None, request: EnhanceRequest | None, model_name: str | None,
                  outscale: float | None, settings: dict[str, Any]) -> EnhanceRequest:
    """A batch's one request: `settings` (the seed's keywords allowed) over `request` or the defaults."""
    given = {k: v for k, v in (("model", model_name), ("outscale", outscale)) if v is not None}
    return EnhanceRequest.from_dict({**given, **settings}, base=request or image_defaults(job_config(config)))


def process_batch(inputs: list[Path], *, model_manager, config: JobConfig | AppConfig | None = None,
                  output_dir: str | Path,
                  request: EnhanceRequest | None = None, model_name: str | None = None, outscale: float | None = None,
                  resume: bool = False, make_zip: bool = False, on_item: ItemProgress | None = None,
                  on_progress: Callable[[int, int, str], None] | None = None,
                  should_cancel: CancelCheck | None = None, history=None, input_root: str | Path | None = None,
                  **settings: Any) -> BatchResult:
    """Enhance each input with one request (`request`, with `model_name`, `outscale` and any
    settings given as keywords over it); failures are recorded and the batch goes on.
    With `resume`, items that these settings already made from the same input *content* are
    skipped (see `BatchPlan.done_before`). Cancelling stops the current item within a layer of its
    forward (its output is never written) and keeps the finished ones; so do the job's time limit
    and a vanished client, whose reason the result's `stopped` gives. With `input_root`, each output goes to the same relative folder under
    `output_dir` as its input under `input_root` (a mirrored tree). Inputs whose results would
    share a name get distinct ones (`pic.png`, `pic.gif` -> `pic-png_out.png`, `pic-gif_out.png`)."""
    output_dir = Path(output_dir)
    batch_id = new_batch_id()
    request = batch_request(config, request, model_name, outscale, settings)
    inputs = [Path(source) for source in inputs]
    plan = BatchPlan.make(inputs, output_dir, input_root, request, history)
    items: list[BatchItem] = []
    stopped = ""
    total = len(inputs)
    for index, source in enumerate(inputs):
        started = time.perf_counter()
        try:
            if should_cancel and should_cancel():
                break
            if on_item:
                on_item(index, total, source.name)
            digest = file_sha256(source)
            done = plan.done_before(source, digest) if resume else None
            if done is not None:
                items.append(BatchItem(source, "skipped", done))
                continue
            result = enhance_image_direct(source, request=request, model_manager=model_manager, config=config,
                                          output_dir=plan.target(source), output_name=plan.stems[source],
                                          on_progress=on_progress, should_cancel=should_cancel,
                                          history=history, batch_id=batch_id)
            plan.note(source, digest, result.output_path)
            items.append(BatchItem(source, "ok", result.output_path, seconds=time.perf_counter() - started))
        except (TimeLimitExceeded, ClientGone) as error:  # the whole job stops; what is done stays listed
            stopped = str(error)
            break
        except Cancelled:
            break
        except (UserError, RuntimeError, MemoryError, OSError) as error:
            if not isinstance(error, UserError):
                log.exception("batch item %s failed", source)
            items.append(BatchItem(source, "failed", None, describe_error(error), time.perf_counter() - started))
    if on_item:
        on_item(len(items), total, "done")
    zip_path = write_zip(output_dir, items) if make_zip and any(i.output_path for i in items) else None
    return BatchResult(items, zip_path, stopped)


def write_zip(output_dir: Path, items: list[BatchItem]) -> Path:
    path = output_dir / f"batch_{time.strftime('%Y%m%d-%H%M%S')}.zip"
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
        for item in items:
            if item.output_path and item.output_path.is_file():
                inside = item.output_path.is_relative_to(output_dir)
                archive.write(item.output_path, item.output_path.relative_to(output_dir) if inside
                              else item.output_path.name)
    return path
