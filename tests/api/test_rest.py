"""The REST API (/api/v1) through a real HTTP client against the running app: each route, each
error code, logins, a burst larger than the queue, a job followed to its result and cancelled, and
the README's curl examples run as they stand. Results are checked with Pillow and PyAV."""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from PIL import Image

from engine.jobs.job_control import TimeLimitExceeded
from tests.app_server import app_config_for, running_app
from tests.conftest import ROOT
from tests.video_samples import make_video
from utils.errors import Cancelled, InvalidInput, OutOfMemory, OutputError, WeightsMissing

pytestmark = pytest.mark.slow
MODEL = "realesr-animevideov3"
FINISHED = ("done", "failed", "cancelled")
POLL_LIMIT_S = 120  # a bound on waiting, never an assertion on speed


def readme_block(marker: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(rf"<!-- {marker} -->\s*```sh\n(.*?)```", text, re.S)
    assert found, f"README has no ```sh block after <!-- {marker} -->"
    return found.group(1)


def tiny_photo(skimage_dir: Path, path: Path, box=(200, 100, 232, 124)) -> Path:
    """A 32x24 crop of a real photo (the astronaut from scikit-image)."""
    Image.open(skimage_dir / "astronaut.png").convert("RGB").crop(box).save(path)
    return path


def looks_like(result: Image.Image, source: Path) -> float:
    """Mean absolute difference (0-255) between the source and the result shrunk back to its size."""
    original = Image.open(source).convert("RGB")
    back = result.convert("RGB").resize(original.size, Image.Resampling.BICUBIC)
    return float(np.abs(np.asarray(back, np.int16) - np.asarray(original, np.int16)).mean())


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    message = body["error"]["message"]
    assert message.endswith((".", ")")) and "Traceback" not in message and "\n" not in message
    return body["error"]


def wait_until_finished(client: httpx.Client, job_id: str, **auth) -> dict:
    deadline = time.monotonic() + POLL_LIMIT_S
    while True:
        status = client.get(f"/jobs/{job_id}", **auth).json()
        if status["status"] in FINISHED or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


@pytest.fixture(scope="module")
def photo(tmp_path_factory, skimage_dir) -> Path:
    return tiny_photo(skimage_dir, tmp_path_factory.mktemp("photo") / "photo.png")


@pytest.fixture(scope="module")
def server(tmp_path_factory, weights_dir):
    """One worker, two waiting places, uploads up to 1 MB."""
    from ui.app import create_app
    root = tmp_path_factory.mktemp("rest")
    config = app_config_for(root, weights_dir, REALESRGAN_QUEUE_MAX_SIZE="2", REALESRGAN_CONCURRENCY_LIMIT="1",
                            REALESRGAN_MAX_UPLOAD_MB="1")
    demo = create_app(config)
    with running_app(config, demo) as url:
        yield url, config, demo.rest_api.state.jobs


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server[0] + "/api/v1", timeout=POLL_LIMIT_S) as c:
        yield c


# -- routes --------------------------------------------------------------------------------------------

def test_upscale_answers_with_the_result_image(client, server, photo):
    response = client.post("/upscale", files={"image": ("photo.png", photo.read_bytes(), "image/png")},
                           data={"model": MODEL, "outscale": "2"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"].startswith("attachment")
    result = Image.open(io.BytesIO(response.content))
    assert result.format == "PNG" and result.size == (64, 48)
    assert looks_like(result, photo) < 12
    job_id = response.headers["x-job-id"]
    saved = list((server[1].OUTPUT_DIR / "local").glob("image-*/photo_out.png"))
    assert any(p.read_bytes() == response.content for p in saved)
    assert client.get(f"/jobs/{job_id}").json()["status"] == "done"


def test_settings_as_one_json_field(client, photo):
    response = client.post("/upscale", files={"image": photo.open("rb")},
                           data={"settings": json.dumps({"model": MODEL, "outscale": 3, "output_format": "webp",
                                                         "strip_metadata": True})})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/webp"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "WEBP" and image.size == (96, 72)


def test_async_job_is_polled_then_fetched_then_cannot_be_cancelled(client, photo):
    response = client.post("/upscale", params={"async": "true"}, files={"image": photo.open("rb")},
                           data={"model": MODEL, "outscale": "2", "output_format": "jpg"})
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/api/v1/jobs/{job['id']}" == job["status_url"]
    assert job["status"] in ("queued", "running", "done") and job["kind"] == "image"
    status = wait_until_finished(client, job["id"])
    assert status["status"] == "done", status
    assert status["progress"] == 1.0 and status["seconds_left"] == 0.0 and status["done"] == status["total"] >= 1
    assert status["result"]["width"] == 64 and status["result"]["format"] == "jpg"
    result = client.get(status["result_url"].removeprefix("/api/v1"))
    assert result.status_code == 200 and result.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(result.content)).size == (64, 48)
    late = client.delete(f"/jobs/{job['id']}")
    assert late.status_code == 409 and error_of(late)["code"] == "already_ended"


def test_video_job(client, tmp_path):
    clip = make_video(tmp_path / "clip.mp4", frames=4)
    response = client.post("/video", files={"video": clip.open("rb")}, data={"outscale": "2", "crf": "30"})
    assert response.status_code == 202, response.text
    status = wait_until_finished(client, response.json()["id"])
    assert status["status"] == "done", status
    assert status["kind"] == "video" and status["total"] == 4 == status["done"]
    result = client.get(f"/jobs/{status['id']}/result")
    assert result.status_code == 200 and result.headers["content-type"] == "video/mp4"
    (tmp_path / "out.mp4").write_bytes(result.content)
    with av.open(str(tmp_path / "out.mp4")) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) == 4 and frames[0].shape == (96, 128, 3)


def test_analyze(client, photo):
    response = client.post("/analyze", files={"image": photo.open("rb")})
    assert response.status_code == 200, response.text
    analysis = response.json()
    assert set(analysis) == {"settings", "reasoning", "analysis"}
    assert analysis["analysis"]["resolution"] == "32x24" and analysis["reasoning"]
    assert analysis["settings"]["model"] in {row["name"] for row in client.get("/models").json()["models"]}


def test_models_and_system(client):
    models = client.get("/models").json()
    by_name = {row["name"]: row for row in models["models"]}
    assert by_name[MODEL]["available"] and by_name[MODEL]["scale"] == 4 and models["default"] == MODEL
    assert by_name["RealESRGAN_x4plus"]["status"] in ("bundled", "downloaded")
    system = client.get("/system").json()
    assert system["status"] == "ok" and system["auth"] is False
    assert system["queue"]["workers"] == 1 and system["queue"]["max_waiting"] == 2
    assert system["limits"]["max_upload_mb"] == 1 and system["system"]["cpu_cores"] >= 1


def test_openapi_documents_every_route(client):
    schema = client.get("/openapi.json").json()
    paths = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert paths >= {("/api/v1/upscale", "post"), ("/api/v1/analyze", "post"), ("/api/v1/video", "post"),
                     ("/api/v1/jobs/{job_id}", "get"), ("/api/v1/jobs/{job_id}", "delete"),
                     ("/api/v1/jobs/{job_id}/result", "get"), ("/api/v1/models", "get"), ("/api/v1/system", "get")}
    upload = schema["paths"]["/api/v1/upscale"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert upload["properties"]["outscale"]["type"] == "number" and "image" in upload["required"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_the_web_ui_is_still_served(server):
    assert httpx.get(server[0] + "/", timeout=30).status_code == 200


# -- errors --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data, words", [
    ({"outscle": "2"}, "Unknown setting 'outscle' (did you mean outscale?)"),
    ({"outscale": "99"}, "outscale"),
    ({"face_enhance": "maybe"}, "'face_enhance' is on or off"),
    ({"model": "no-such-model"}, "no-such-model"),
    ({"settings": "[1, 2]"}, "must be a JSON object"),
    ({"settings": "{oops"}, "not valid JSON"),
])
def test_bad_settings_are_400_with_the_sentence(client, photo, data, words):
    response = client.post("/upscale", files={"image": photo.open("rb")}, data=data)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["code"] in ("bad_input", "weights_missing") and words.lower() in error["message"].lower()


def test_missing_weights_are_400_without_server_paths(client, server, photo):
    response = client.post("/upscale", files={"image": photo.open("rb")}, data={"model": "RealESRNet_x4plus"})
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["code"] == "weights_missing" and "RealESRNet_x4plus is not on this server" in error["message"]
    assert str(server[1].WEIGHTS_DIR) not in error["message"]


@pytest.mark.parametrize("error, code, status", [
    (InvalidInput("x."), "bad_input", 400), (WeightsMissing("x.", model="m", filename="m.pth"), "weights_missing", 400),
    (Cancelled("x."), "cancelled", 409), (OutOfMemory("x."), "out_of_memory", 503),
    (TimeLimitExceeded("x."), "time_limit", 503), (OutputError("x."), "output_error", 507),
    (RuntimeError("boom"), "internal", 500)])
def test_each_engine_failure_has_its_stable_code(error, code, status):
    from ui.rest.errors import as_api_error
    told = as_api_error(error)
    assert (told.code, told.status) == (code, status) and "boom" not in told.message


def test_bad_uploads_are_400(client, tmp_path):
    not_image = tmp_path / "notes.png"
    not_image.write_text("hello, not an image")
    for response in (client.post("/upscale", files={"image": not_image.open("rb")}),
                     client.post("/upscale", data={"outscale": "2"}, files={"other": b"x"}),
                     client.post("/upscale", json={"outscale": 2}),
                     client.post("/analyze", files={"image": not_image.open("rb")}),
                     client.post("/video", files={"video": not_image.open("rb")})):
        assert response.status_code in (400, 202), response.text
        if response.status_code == 202:  # the video's container is probed by the job
            status = wait_until_finished(client, response.json()["id"])
            assert status["status"] == "failed" and status["error"]["code"] == "bad_input", status
        else:
            assert error_of(response)["code"] == "bad_input"


def test_over_the_upload_limit_is_413_before_reading(client):
    big = b"\0" * (1024 * 1024 + 1)
    response = client.post("/upscale", files={"image": ("big.png", big, "image/png")})
    assert response.status_code == 413 and error_of(response)["code"] == "too_large"

    def chunks():  # no Content-Length: counted as it arrives
        yield b'--x\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
        for _ in range(20):
            yield b"\0" * 65536
    response = client.post("/upscale", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"})
    assert response.status_code == 413 and error_of(response)["code"] == "too_large"


def test_unknown_job_route_and_method(client):
    for response, status, code in ((client.get("/jobs/not-a-job"), 404, "not_found"),
                                   (client.get("/jobs/not-a-job/result"), 404, "not_found"),
                                   (client.delete("/jobs/not-a-job"), 404, "not_found"),
                                   (client.get("/nothing-here"), 404, "not_found"),
                                   (client.get("/upscale"), 405, "method_not_allowed")):
        assert response.status_code == status and error_of(response)["code"] == code


def test_queue_full_is_503_and_a_waiting_job_is_cancelled(client, server, photo):
    """The one worker is held by a job of our own; two more wait; the next is refused."""
    jobs = server[2]
    release = threading.Event()

    def hold(job):
        while not release.wait(0.05):
            if job.cancelled():
                raise Cancelled("The job was cancelled.")
        return photo, {}
    holder = jobs.submit("image", None, hold)
    try:
        waiting = [client.post("/upscale", params={"async": "true"}, files={"image": photo.open("rb")},
                               data={"model": MODEL, "outscale": "2"}) for _ in range(2)]
        assert [r.status_code for r in waiting] == [202, 202]
        first, second = (r.json()["id"] for r in waiting)
        assert client.get(f"/jobs/{first}").json()["status"] == "queued"
        refused = client.post("/upscale", files={"image": photo.open("rb")}, data={"model": MODEL})
        assert refused.status_code == 503 and error_of(refused)["code"] == "busy"
        assert refused.headers["retry-after"] == "30"
        assert client.get("/system").json()["queue"] == {"running": 1, "waiting": 2, "workers": 1, "max_waiting": 2}

        cancelled = client.delete(f"/jobs/{first}")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert client.get(f"/jobs/{first}").json()["error"]["code"] == "cancelled"
        not_there = client.get(f"/jobs/{first}/result")
        assert not_there.status_code == 409 and error_of(not_there)["code"] == "not_finished"

        stopping = client.delete(f"/jobs/{holder.id}")  # running: stops at its next check
        assert stopping.status_code == 200
        assert wait_until_finished(client, holder.id)["status"] == "cancelled"
    finally:
        release.set()
    assert wait_until_finished(client, second)["status"] == "done"


def test_large_work_is_answered_with_a_job(client, server, skimage_dir):
    """camera.png (512x512) at x8 would be 16.8 MP: a job id, not a wait. It waits behind a held
    worker and is cancelled there, so no model work is done."""
    release = threading.Event()
    holder = server[2].submit("image", None, lambda job: (release.wait(POLL_LIMIT_S), (skimage_dir, {}))[1])
    try:
        response = client.post("/upscale", files={"image": (skimage_dir / "camera.png").open("rb")},
                               data={"model": MODEL, "outscale": "8"})
        assert response.status_code == 202, response.text
        job = response.json()
        assert job["status"] == "queued" and job["result_url"] is None
        assert client.delete(f"/jobs/{job['id']}").json()["status"] == "cancelled"
    finally:
        release.set()
    assert wait_until_finished(client, holder.id)["status"] == "done"


def test_a_burst_is_answered_with_results_or_busy_never_500(server, photo):
    url = server[0] + "/api/v1/upscale"
    answers: list[httpx.Response | BaseException] = []

    def send():
        try:
            answers.append(httpx.post(url, files={"image": photo.open("rb")}, data={"model": MODEL, "outscale": "2"},
                                      timeout=POLL_LIMIT_S))
        except BaseException as error:  # recorded and reported below
            answers.append(error)
    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 6 and all(isinstance(a, httpx.Response) for a in answers), answers
    assert {a.status_code for a in answers} <= {200, 503}
    assert any(a.status_code == 200 for a in answers)  # the first to arrive always finds room
    for answer in answers:
        if answer.status_code == 200:
            assert Image.open(io.BytesIO(answer.content)).size == (64, 48)
        else:
            assert error_of(answer)["code"] == "busy"


# -- logins --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def login_server(tmp_path_factory, weights_dir):
    root = tmp_path_factory.mktemp("rest-login")
    (root / "users.txt").write_text("bob:builder-2\n")
    config = app_config_for(root, weights_dir, REALESRGAN_AUTH="alice:wonderland",
                            REALESRGAN_AUTH_FILE=str(root / "users.txt"))
    with running_app(config) as url:
        yield url, config


def test_logins_are_required_and_jobs_are_private(login_server, photo):
    url, config = login_server
    alice, bob = ("alice", "wonderland"), ("bob", "builder-2")
    with httpx.Client(base_url=url + "/api/v1", timeout=POLL_LIMIT_S) as client:
        anonymous = client.get("/models")
        assert anonymous.status_code == 401 and error_of(anonymous)["code"] == "unauthorized"
        assert anonymous.headers["www-authenticate"].startswith("Basic")
        assert client.get("/openapi.json").status_code == 401
        wrong = client.get("/models", auth=("alice", "guess"))
        assert wrong.status_code == 401 and "wrong" in error_of(wrong)["message"]

        started = client.post("/upscale", params={"async": "true"}, auth=alice, files={"image": photo.open("rb")},
                              data={"model": MODEL, "outscale": "2"})
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        assert wait_until_finished(client, job_id, auth=alice)["status"] == "done"
        for response in (client.get(f"/jobs/{job_id}", auth=bob), client.get(f"/jobs/{job_id}/result", auth=bob),
                         client.delete(f"/jobs/{job_id}", auth=bob)):
            assert response.status_code == 404 and error_of(response)["code"] == "not_found"
        mine = client.get(f"/jobs/{job_id}/result", auth=alice)
        assert mine.status_code == 200 and Image.open(io.BytesIO(mine.content)).size == (64, 48)
        assert client.get("/system", auth=bob).json()["auth"] is True
    folders = {p.relative_to(config.OUTPUT_DIR).parts[0] for p in config.OUTPUT_DIR.rglob("*.png")}
    assert len(folders) == 1 and folders.pop().startswith("user-alice-")


# -- the README's examples, verbatim ---------------------------------------------------------------------

def run_block(block: str, cwd: Path, api: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=cwd, env={"PATH": "/usr/bin:/bin",
                          "API": api}, capture_output=True, text=True, timeout=300)


@pytest.fixture
def example_folder(tmp_path, skimage_dir) -> Path:
    tiny_photo(skimage_dir, tmp_path / "photo.png")
    make_video(tmp_path / "clip.mp4", frames=3)
    return tmp_path


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_curl_examples_run_verbatim(server, example_folder):
    done = run_block(readme_block("rest-api-examples"), example_folder, server[0] + "/api/v1")
    assert done.returncode == 0, done.stderr + done.stdout
    assert Image.open(example_folder / "photo_x2.png").size == (64, 48)
    assert Image.open(example_folder / "photo_x3.webp").size == (96, 72)
    assert Image.open(example_folder / "photo_job.png").size == (64, 48)
    with av.open(str(example_folder / "clip_x2.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 3
    assert '"status":"ok"' in done.stdout and '"reasoning"' in done.stdout
    assert re.search(r'"status":"(cancelled|running)"|"already_ended"', done.stdout)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_login_example_runs_verbatim(login_server, example_folder):
    done = run_block(readme_block("rest-api-login-example"), example_folder, login_server[0] + "/api/v1")
    assert done.returncode == 0, done.stderr + done.stdout
    assert Image.open(example_folder / "photo_alice.png").size == (64, 48)
    assert '"code":"unauthorized"' in done.stdout


# -- the container's health check, run against these servers ------------------------------------------

def test_the_dockerfile_health_check_passes_on_a_serving_app(server, login_server):
    import sys

    from tests.api.test_container import healthcheck_command
    from tests.app_server import free_port
    command = [sys.executable, *healthcheck_command()[1:]]

    def check(port: int) -> int:
        return subprocess.run(command, env={"REALESRGAN_SERVER_PORT": str(port)}, timeout=60).returncode
    assert check(server[1].SERVER_PORT) == 0
    assert check(login_server[1].SERVER_PORT) == 0  # 401: up, with logins
    assert check(free_port()) == 1  # nothing listening


# -- pure parts ----------------------------------------------------------------------------------------

def test_a_jobs_seconds_left_from_the_measured_rate_or_the_one_tile_expectation(monkeypatch):
    from ui.rest.jobs import Job
    from utils.progress import ProgressNote
    now = [100.0]
    monkeypatch.setattr("ui.rest.jobs.time.monotonic", lambda: now[0])  # a clock the test moves

    def job() -> Job:
        made = Job("j", "image", None)
        made.estimate.clock, made.estimate.started = (lambda: now[0]), now[0]  # the same hand-moved clock
        return made
    rated = job()
    rated.report(0, 10, "tile 1/10")
    assert rated.seconds_left() is None  # no unit finished, nothing expected: unknown
    now[0] += 5
    rated.report(5, 10, "tile 6/10")
    assert rated.seconds_left() == pytest.approx(5.0)  # 1 tile/s, 5 to go
    rated.report(10, 10, "tile 10/10")
    assert rated.seconds_left() == 0.0
    one_tile = job()  # an image in one tile, at a measured speed of 8 s for it
    one_tile.report(0, 1, ProgressNote("tile 1/1", 8.0))
    now[0] += 3
    one_tile.report(0, 1, ProgressNote("tile 1/1", 8.0))
    assert one_tile.seconds_left() == pytest.approx(5.0) and one_tile.note == "tile 1/1"


def test_form_values_and_basic_credentials():
    from ui.rest.auth import basic_credentials
    from ui.rest.uploads import settings_from
    assert settings_from({"settings": '{"outscale": 2, "tile": 128}', "tile": "256", "face_enhance": "true",
                          "double_pass": "0"}) == {"outscale": 2, "tile": "256", "face_enhance": True,
                                                   "double_pass": False}
    assert basic_credentials("Basic YWxpY2U6d29uZDplcmxhbmQ=") == ("alice", "wond:erland")
    assert basic_credentials("Basic !!!") is None and basic_credentials("Bearer x") is None
    assert basic_credentials(None) is None
