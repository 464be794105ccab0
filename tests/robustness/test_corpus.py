"""The hostile-input corpus through the engine, the CLI and the HTTP API: each case is processed or
refused with one clear sentence; nothing half-written; the CLI exits 1; the server keeps serving."""
import subprocess
import sys

import pytest

from engine.jobs.image import enhance_image_direct
from utils.errors import UserError

from tests.app_server import app_config_for, running_app
from tests.conftest import ROOT
from tests.robustness.corpus import build_corpus

MODEL = "realesr-animevideov3"
LIMIT = "4000000"  # 4 MP: the over-limit case must trip it


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory, chelsea):
    folder = tmp_path_factory.mktemp("corpus")
    cases = build_corpus(chelsea[100:124, 200:232])
    for name, data, _ in cases:
        (folder / name).write_bytes(data)
    (folder / "folder.png").mkdir()  # a directory with an image name
    return folder, {name: expected for name, data, expected in cases} | {"folder.png": "refused"}


def one_sentence(message: str) -> bool:
    return bool(message) and "\n" not in message and "Traceback" not in message and len(message) < 400


def test_corpus_has_at_least_40_cases(corpus_dir):
    assert len(corpus_dir[1]) >= 40


def test_engine(corpus_dir, tmp_path, app_config, manager):
    folder, expected = corpus_dir
    config = app_config.replace(MAX_IMAGE_PIXELS=int(LIMIT))
    outcomes = {}
    for name, want in sorted(expected.items()):
        try:
            result = enhance_image_direct(folder / name, MODEL, 2, model_manager=manager, config=config,
                                          output_dir=tmp_path / "out")
            outcomes[name] = "ok"
            assert result.output_path.is_file() and result.output_path.parent == tmp_path / "out"
        except UserError as error:
            outcomes[name] = "refused"
            assert one_sentence(str(error)), (name, str(error))
    assert outcomes == expected
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".part")]


def test_cli(corpus_dir, tmp_path, cli_env):
    folder, expected = corpus_dir
    names = sorted(n for n in expected if n != "folder.png")  # the CLI reads a folder's images instead
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "upscale", *[str(folder / n) for n in names],
                             "-o", str(tmp_path / "out"), "-n", MODEL, "-s", "1"],
                            env={**cli_env, "REALESRGAN_MAX_IMAGE_PIXELS": LIMIT}, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    refused = [n for n in names if expected[n] == "refused"]
    assert len(errors) == len(refused) and all(line.startswith("error: ") for line in errors)
    assert "Traceback" not in result.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(written) == len(names) - len(refused) and not [w for w in written if w.endswith(".part")]


@pytest.fixture(scope="module")
def server(tmp_path_factory, weights_dir):
    config = app_config_for(tmp_path_factory.mktemp("corpus-app"), weights_dir, REALESRGAN_MAX_IMAGE_PIXELS=LIMIT)
    with running_app(config) as url:
        yield url, config


def test_http_api(corpus_dir, server):
    from gradio_client import Client, handle_file
    folder, expected = corpus_dir
    client = Client(server[0], verbose=False)
    outcomes = {}
    for name, want in sorted(expected.items()):
        if name == "folder.png":
            continue  # a browser cannot upload a directory
        try:
            client.predict(handle_file(str(folder / name)), model_name=MODEL, scale=1, api_name="/enhance_image")
            outcomes[name] = "ok"
        except Exception as error:  # the client raises what the server said
            outcomes[name] = "refused"
            assert one_sentence(str(error).split("\n")[0]), (name, str(error))
    assert outcomes == {n: e for n, e in expected.items() if n != "folder.png"}
    # still serving after all of that
    good = next(n for n in sorted(expected) if expected[n] == "ok")
    assert client.predict(handle_file(str(folder / good)), model_name=MODEL, scale=1, api_name="/enhance_image")[0]
    assert not list(server[1].OUTPUT_DIR.rglob("*.part"))
