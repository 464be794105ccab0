"""Batch over a Ray cluster: one model instance per worker (one GPU each where there are GPUs),
the same outputs and history rows as the local `process_batch`. Ray is an optional extra
(requirements-cluster.txt); outputs go to `output_dir`, which must be shared storage on a
multi-machine cluster."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.job_config import JobConfig, job_config
from engine.jobs.batch import BatchItem, BatchPlan, BatchResult, batch_request, new_batch_id, write_zip
from engine.pixels.inference import CancelCheck
from engine.request import EnhanceRequest
from utils.errors import InvalidInput
from utils.files import file_sha256

if TYPE_CHECKING:
    from config import AppConfig

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class EnhanceWorker:
    """A Ray actor: its own ModelManager, so each worker loads the model once."""

    def __init__(self, weights_dir: str, device: str, threads: int, config: JobConfig):
        import torch

        from engine.models.manager import ModelManager
        torch.set_num_threads(max(1, threads))
        self.config = config
        self.manager = ModelManager(weights_dir=weights_dir, device=device,
                                    allow_downloads=config.allow_downloads)

    def enhance(self, source: str, request: dict, output_dir: str, output_name: str) -> dict:
        from engine.jobs.image import enhance_image_direct
        from utils.errors import UserError, describe_error
        started = time.time()
        try:
            result = enhance_image_direct(source, request=EnhanceRequest.from_dict(request), model_manager=self.manager,
                                          config=self.config, output_dir=output_dir, output_name=output_name)
            return {"status": "ok", "output_path": str(result.output_path), "error": "", "started": started,
                    "finished": time.time(), "device": result.metrics.get("device")}
        except (UserError, RuntimeError, MemoryError, OSError) as error:
            return {"status": "failed", "output_path": None, "error": describe_error(error), "started": started,
                    "finished": time.time(), "device": None}


def connect(address: str | None) -> Any:
    try:
        import ray
    except ImportError:
        raise InvalidInput("Ray is not installed; pip install -r requirements-cluster.txt to use --ray.") from None
    if not ray.is_initialized():
        # Workers import this project: on a local instance they find it through PYTHONPATH; on a
        # remote cluster it must be installed on every node.
        runtime_env = {"env_vars": {"PYTHONPATH": str(PROJECT_ROOT)}}
        ray.init(address=None if address in (None, "", "local") else address, include_dashboard=False,
                 log_to_driver=False, ignore_reinit_error=True, runtime_env=runtime_env)
    return ray


def process_batch_ray(inputs: list[Path], *, address: str | None = None, weights_dir: str | Path,
                      output_dir: str | Path, request: EnhanceRequest | None = None, model_name: str | None = None,
                      outscale: float | None = None, config: JobConfig | AppConfig | None = None,
                      resume: bool = False, make_zip: bool = False, history=None, on_item=None,
                      should_cancel: CancelCheck | None = None, workers: int | None = None,
                      input_root: str | Path | None = None, **settings: Any) -> BatchResult:
    """`process_batch` over Ray workers: the same request, outputs, resume and history rows."""
    request = batch_request(config, request, model_name, outscale, settings)
    config = job_config(config)
    ray = connect(address)
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = int(resources.get("CPU", 1))
    count = workers or gpus or cpus
    threads = 1 if gpus else max(1, cpus // count)
    actor = ray.remote(num_gpus=1 if gpus else 0, num_cpus=0 if gpus else threads)(EnhanceWorker)
    pool = [actor.remote(str(weights_dir), "cuda" if gpus else "cpu", threads, config) for _ in range(count)]
    output_dir = Path(output_dir)
    batch_id = new_batch_id()
    items: dict[int, BatchItem] = {}
    pending: dict[Any, tuple[int, Path, Any]] = {}
    inputs = [Path(p) for p in inputs]
    plan = BatchPlan.make(inputs, output_dir, input_root, request, history)
    recorded = request.to_dict()
    digests: dict[Path, str | None] = {}
    queue = list(enumerate(inputs))
    log.info("ray batch: %d items over %d worker(s) (%d GPU(s))", len(inputs), count, gpus)

    def submit(worker) -> bool:
        while queue:
            index, source = queue.pop(0)
            digests[source] = file_sha256(source)
            done = plan.done_before(source, digests[source]) if resume else None
            if done is not None:
                items[index] = BatchItem(source, "skipped", done)
                continue
            ref = worker.enhance.remote(str(source), recorded, str(plan.target(source)), plan.stems[source])
            pending[ref] = (index, source, worker)
            return True
        return False

    for worker in pool:
        submit(worker)
    while pending:
        if should_cancel and should_cancel():
            for ref in pending:
                ray.cancel(ref)
            break
        ready, _ = ray.wait(list(pending), num_returns=1)
        index, source, worker = pending.pop(ready[0])
        outcome = ray.get(ready[0])
        output = Path(outcome["output_path"]) if outcome["output_path"] else None
        items[index] = BatchItem(source, outcome["status"], output, outcome["error"],
                                 outcome["finished"] - outcome["started"])
        plan.note(source, digests[source], output if outcome["status"] == "ok" else None)
        if history is not None:
            history.record(kind="batch-item", input_path=source, settings=recorded, settings_key=plan.key,
                           model=request.model, device=outcome["device"], started_at=outcome["started"],
                           finished_at=outcome["finished"], status=outcome["status"], output_path=output,
                           error=outcome["error"] or None, batch_id=batch_id)
        if on_item:
            on_item(len(items), len(inputs), source.name)
        submit(worker)
    ordered = [items[i] for i in sorted(items)]
    zip_path = write_zip(output_dir, ordered) if make_zip and any(i.output_path for i in ordered) else None
    return BatchResult(ordered, zip_path)
