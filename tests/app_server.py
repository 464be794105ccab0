"""The real app on a free 127.0.0.1 port, for API and browser tests."""
from __future__ import annotations

import socket
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from config import AppConfig
from tests.environment import isolated_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url: str, timeout_s: float = 60) -> int:
    """The status of one GET of `url` (an error status too, not raised)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def app_config_for(root: Path, weights_dir: Path, **extra: str) -> AppConfig:
    env = isolated_env(root, weights_dir, REALESRGAN_SERVER_PORT=str(free_port()),
                       REALESRGAN_DEFAULT_MODEL="realesr-animevideov3", **extra)
    return AppConfig.from_env(env, env_file="")


@contextmanager
def running_app(config: AppConfig, demo=None) -> Iterator[str]:
    """The app (or `demo`, made by `create_app(config)`) serving the UI and its REST API."""
    from ui.app import create_app, launch_options
    demo = demo or create_app(config)
    demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(config, demo))
    try:
        yield f"http://127.0.0.1:{config.SERVER_PORT}"
    finally:
        demo.close()
        demo.rest_api.state.jobs.shutdown()
