"""Start-up: configuration, logging, warnings about exposure, then the Gradio server."""
from __future__ import annotations

import logging
import os

from config import AppConfig, load_or_report
from ui.starting_page import StartingPage

log = logging.getLogger(__name__)


def exposure_warnings(config: AppConfig) -> list[str]:
    warnings = []
    if config.SHARE and not config.LOGINS:
        warnings.append("SHARE is on without AUTH: anyone with the public link (valid 72 hours) can use this "
                        "machine. Set REALESRGAN_AUTH=user:password.")
    if config.SERVER_NAME not in ("127.0.0.1", "localhost", "::1") and not config.LOGINS:
        warnings.append(f"Listening on {config.SERVER_NAME} without AUTH: anyone on the network can use this "
                        "machine. Set REALESRGAN_AUTH=user:password or REALESRGAN_SERVER_NAME=127.0.0.1.")
    return warnings


def launch_options(config: AppConfig, demo=None) -> dict:
    """Serve only the output folder, never as pages in our origin and, with logins, to its owner only;
    block weights, data and logs; cap uploads; slow down failed logins; show users our sentences
    (gr.Error), never a raw exception's text. With `demo` from `create_app`, its REST API is served
    under /api/v1 beside the UI, with the same logins and the same throttle."""
    from starlette.middleware import Middleware

    from ui.components import CSS
    from ui.file_guard import FileGuard
    from ui.login import ClientAddress, LoginThrottle
    rest = getattr(demo, "rest_api", None)
    throttle = getattr(demo, "login_throttle", None) or (LoginThrottle(config.LOGINS) if config.LOGINS else None)
    middleware = [Middleware(ClientAddress),
                  Middleware(FileGuard, output_dir=config.OUTPUT_DIR, logins=bool(config.LOGINS))]
    if rest is not None:
        from ui.rest import RestMount
        middleware.append(Middleware(RestMount, api=rest, max_upload_mb=config.MAX_UPLOAD_MB))
    return {
        "server_name": config.SERVER_NAME,
        "server_port": config.SERVER_PORT,
        "share": config.SHARE,
        "auth": throttle.check if throttle else None,
        "allowed_paths": [str(config.OUTPUT_DIR)],
        "blocked_paths": [str(config.WEIGHTS_DIR), str(config.DATA_DIR / "logs"), str(config.SETTINGS_FILE),
                          str(config.PRESETS_FILE), str(config.BACKUP_DIR), str(config.LOG_FILE.parent)],
        "max_file_size": config.MAX_UPLOAD_MB * 1024 * 1024,
        "show_error": False,
        "app_kwargs": {"middleware": middleware},
        "footer_links": [],
        "css": CSS,
    }


def create_app(config: AppConfig):
    """The configured Blocks with its queue and its REST API (`demo.rest_api`, served by
    `launch_options(config, demo)`), ready to launch."""
    os.environ.setdefault("GRADIO_TEMP_DIR", str(config.GRADIO_TEMP_DIR))
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from PIL import Image

    from ui.components import build_interface
    from ui.login import LoginThrottle
    from ui.rest import create_rest_api
    from ui.services import Services
    Image.MAX_IMAGE_PIXELS = config.MAX_IMAGE_PIXELS
    config.ensure_directories()
    config.GRADIO_TEMP_DIR.mkdir(parents=True, exist_ok=True)
    services = Services.from_config(config)
    demo = build_interface(services)
    demo.queue(max_size=config.QUEUE_MAX_SIZE, default_concurrency_limit=config.CONCURRENCY_LIMIT)
    demo.login_throttle = LoginThrottle(config.LOGINS) if config.LOGINS else None  # the UI's and the API's
    demo.rest_api = create_rest_api(services, demo.login_throttle)
    demo.manager = services.manager  # the cache `serve` warms
    return demo


def serve(config: AppConfig | None = None, *, block: bool = True):
    config = load_or_report(config)
    if config is None:
        return 2
    from utils.logger import setup_logging
    setup_logging(config.LOG_FILE, config.LOG_LEVEL)
    for warning in exposure_warnings(config):
        log.warning("!" * 10 + " " + warning)
    log.info("starting on http://%s:%d", config.SERVER_NAME, config.SERVER_PORT)
    starting = StartingPage(config.SERVER_NAME, config.SERVER_PORT)  # answers while the imports run
    starting.start()
    try:
        demo = create_app(config)
        if config.WARM_UP:  # the default model loads while the page is served (engine/models/warm_up.py)
            from engine.models.warm_up import start_warm_up
            demo.warm_up = start_warm_up(demo.manager, config.DEFAULT_MODEL, fp32=config.FP32)
        options = launch_options(config, demo)
    finally:
        starting.stop()
    demo.launch(prevent_thread_lock=not block, **options)
    return demo if not block else 0
