"""Device detection: CUDA GPUs and their memory, Apple MPS, and the CPU (model, bf16 support)."""
from __future__ import annotations

import functools
import logging
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import psutil
import torch

from utils.errors import InvalidInput

log = logging.getLogger(__name__)
GIB = 1024 ** 3


@dataclass(frozen=True)
class DeviceChoice:
    device: torch.device
    precision: str  # "fp16", "bf16" or "fp32"
    reason: str


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@functools.lru_cache(maxsize=1)
def cpu_supports_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX), where bf16 is about 2x fp32."""
    flags = cpu_flags()
    if flags:
        return bool(flags & {"avx512_bf16", "amx_bf16"})
    if platform.machine().lower() in ("arm64", "aarch64"):
        return bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)())
    return False


@functools.lru_cache(maxsize=1)
def cpu_model_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")
# What a job asks for: None for the configured device, an int for that CUDA GPU (0 is a real id),
# or a device name ("cpu", "cuda", "cuda:1", "mps", "auto").
DeviceRequest = int | str | None


def check_device_name(name: str) -> str:
    name = name.strip().lower()
    base, _, index = name.partition(":")
    if base not in DEVICE_NAMES or (index and (base != "cuda" or not index.isdigit())):
        raise InvalidInput(f"Unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps.")
    return name


def device_request(device: str | None, gpu_id: int | None) -> DeviceRequest:
    """The request from a device name and/or a GPU id (`--device cuda -g 1` is "cuda:1")."""
    name = None if device is None else check_device_name(device)
    if name in (None, "auto"):
        return gpu_id
    return f"cuda:{gpu_id}" if gpu_id is not None and name == "cuda" else name


def choose_device(preference: str = "auto", gpu_id: int | None = None, fp32: bool = False) -> DeviceChoice:
    """Pick the device and precision: CUDA, then MPS, then CPU for "auto"; fp16 on CUDA, bf16 on a
    CPU that supports it, else fp32. `gpu_id` 0 is a real id (None means "not set")."""
    pref = check_device_name(preference)
    if gpu_id is not None and pref in ("auto", "cuda"):
        pref = f"cuda:{gpu_id}"
    if pref.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InvalidInput("CUDA was requested but no CUDA GPU is available; use device 'cpu' or 'auto'.")
        index = int(pref.split(":")[1]) if ":" in pref else 0
        if index >= torch.cuda.device_count():
            raise InvalidInput(f"GPU {index} does not exist; this machine has {torch.cuda.device_count()} GPU(s).")
        return DeviceChoice(torch.device("cuda", index), "fp32" if fp32 else "fp16",
                            f"CUDA GPU {index}: {torch.cuda.get_device_name(index)}")
    if pref == "auto" and torch.cuda.is_available():
        return choose_device("cuda:0", None, fp32)
    if pref == "mps" or (pref == "auto" and torch.backends.mps.is_available()):
        if not torch.backends.mps.is_available():
            raise InvalidInput("Apple MPS was requested but is not available; use device 'cpu' or 'auto'.")
        return DeviceChoice(torch.device("mps"), "fp32" if fp32 else "fp16", "Apple Silicon GPU (MPS)")
    precision = "bf16" if (cpu_supports_bf16() and not fp32) else "fp32"
    return DeviceChoice(torch.device("cpu"), precision, f"CPU: {cpu_model_name()}")


def available_devices() -> list[tuple[str, str]]:
    """(label, device name) for each device this machine can run on, the CPU first."""
    devices = [(f"CPU: {cpu_model_name()} ({'bf16' if cpu_supports_bf16() else 'fp32'})", "cpu")]
    if torch.cuda.is_available():
        devices += [(f"GPU {i}: {torch.cuda.get_device_name(i)}", f"cuda:{i}")
                    for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        devices.append(("Apple Silicon GPU (MPS)", "mps"))
    return devices


def free_memory_bytes(device: torch.device, reserve: float = 0.1) -> int:
    """Memory a job may use on `device`, keeping `reserve` (0..0.9) of the total free."""
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        return max(0, int(free - reserve * total))
    vm = psutil.virtual_memory()
    return max(0, int(vm.available - reserve * vm.total))


class GPUDetector:
    """The seed's static interface over the helpers above."""

    @staticmethod
    def get_available_gpus() -> list[tuple[int, str]]:
        if not torch.cuda.is_available():
            return []
        return [(i, torch.cuda.get_device_name(i)) for i in range(torch.cuda.device_count())]

    @staticmethod
    def get_gpu_memory(gpu_id: int = 0) -> tuple[float, float]:
        """(used_gb, total_gb) of GPU `gpu_id`; (0, 0) when there is no such GPU."""
        if not torch.cuda.is_available() or gpu_id >= torch.cuda.device_count():
            return (0.0, 0.0)
        free, total = torch.cuda.mem_get_info(gpu_id)
        return ((total - free) / GIB, total / GIB)

    @staticmethod
    def clear_gpu_cache(gpu_id: int | None = None) -> None:
        if torch.cuda.is_available():
            with torch.cuda.device(gpu_id if gpu_id is not None else torch.cuda.current_device()):
                torch.cuda.empty_cache()
        if torch.backends.mps.is_available():
            torch.mps.empty_cache()

    @staticmethod
    def set_device(gpu_id: int) -> None:
        if torch.cuda.is_available():
            torch.cuda.set_device(gpu_id)

    @staticmethod
    def get_system_info() -> dict:
        vm = psutil.virtual_memory()
        info = {
            "cpu": cpu_model_name(),
            "cpu_cores": os.cpu_count(),
            "cpu_bf16": cpu_supports_bf16(),
            "torch_threads": torch.get_num_threads(),
            "ram_total_gb": round(vm.total / GIB, 1),
            "ram_available_gb": round(vm.available / GIB, 1),
            "torch": torch.__version__,
            "cuda_available": torch.cuda.is_available(),
            "cuda_version": torch.version.cuda,
            "mps_available": torch.backends.mps.is_available(),
            "gpus": [],
        }
        for gpu_id, name in GPUDetector.get_available_gpus():
            used, total = GPUDetector.get_gpu_memory(gpu_id)
            info["gpus"].append({"id": gpu_id, "name": name, "memory_used_gb": round(used, 2),
                                 "memory_total_gb": round(total, 2)})
        return info
