"""Device choice: with the devices this machine has, and with a simulated CUDA machine (no GPU can
exist here, so torch.cuda's answers are stubbed in those tests and say so)."""
import pytest
import torch

from utils import gpu
from utils.errors import InvalidInput
from utils.gpu import GPUDetector, choose_device


def test_auto_picks_this_machines_best_device_and_the_cpu_uses_bf16_when_it_can():
    best = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert choose_device("auto").device.type == best
    cpu = choose_device("cpu")
    assert cpu.device == torch.device("cpu") and cpu.precision == ("bf16" if gpu.cpu_supports_bf16() else "fp32")
    assert choose_device("auto", fp32=True).precision == "fp32"
    assert choose_device("cpu").device == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_a_gpu_that_is_not_there_is_a_clear_error():
    with pytest.raises(InvalidInput, match="no CUDA GPU"):
        choose_device("cuda")
    with pytest.raises(InvalidInput, match="no CUDA GPU"):
        choose_device("auto", gpu_id=0)  # GPU id 0 is a real id, not "unset"


@pytest.fixture
def two_gpus(monkeypatch):
    """Simulated: torch.cuda reports two GPUs (a CUDA device cannot exist on this machine)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: f"Simulated GPU {index}")


def test_cuda_first_then_the_chosen_gpu(two_gpus):
    assert choose_device("auto").device == torch.device("cuda", 0)
    assert choose_device("auto").precision == "fp16"
    assert choose_device("auto", gpu_id=1).device == torch.device("cuda", 1)
    assert choose_device("cuda:1", fp32=True).precision == "fp32"
    assert choose_device("cpu").device.type == "cpu"  # an explicit CPU choice wins
    with pytest.raises(InvalidInput, match="GPU 5 does not exist"):
        choose_device("auto", gpu_id=5)


def test_mps_when_asked_and_missing():
    if torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    with pytest.raises(InvalidInput, match="MPS"):
        choose_device("mps")


def test_system_info_and_cache_clearing_work_without_a_gpu():
    info = GPUDetector.get_system_info()
    assert {"cpu", "cpu_bf16", "ram_total_gb", "torch", "cuda_available", "gpus"} <= info.keys()
    if torch.cuda.is_available():
        assert GPUDetector.get_gpu_memory(0)[1] > 0
    else:
        assert GPUDetector.get_gpu_memory(0) == (0.0, 0.0)
    GPUDetector.clear_gpu_cache()


def test_device_names_and_requests():
    assert gpu.check_device_name(" CUDA:1 ") == "cuda:1"
    for bad in ("tpu", "cuda:x", "cpu:0", ""):
        with pytest.raises(InvalidInput, match="Unknown device"):
            gpu.check_device_name(bad)
    assert gpu.device_request(None, 0) == 0 and gpu.device_request("auto", None) is None
    assert gpu.device_request("cuda", 1) == "cuda:1" and gpu.device_request("cpu", None) == "cpu"


def test_a_device_name_overrides_the_configured_preference(two_gpus, tmp_path):
    from engine.models.manager import ModelManager
    manager = ModelManager(weights_dir=tmp_path, allow_downloads=False, device="auto")
    assert manager.device_for().device == torch.device("cuda", 0)
    assert manager.device_for(1).device == torch.device("cuda", 1)
    assert manager.device_for("cpu").device.type == "cpu"
    assert [name for _, name in gpu.available_devices()] == ["cpu", "cuda:0", "cuda:1"] + \
        (["mps"] if torch.backends.mps.is_available() else [])


def test_this_machine_lists_its_cpu_first():
    label, name = gpu.available_devices()[0]
    assert name == "cpu" and label.startswith("CPU: ")
