"""A page that answers while the app starts: the web UI's imports alone (Gradio, PyTorch) take
several seconds, and a browser opened on the address meanwhile would see "connection refused".

Before anything heavy is imported, `serve` binds the configured address with this small standard
library server. Every request gets 503 with `Retry-After: 1`; a browser gets a page saying the app
is starting, whose script asks the address again every half second and reloads itself into the app
as soon as the app (not this page) answers. Just before Gradio binds the same address, `stop`
closes it; a request in that moment (Gradio's own set-up, about half a second) is refused, or
answered 502 by a proxy in front, and the page's script simply asks again.
It serves no file and reads nothing: the same few bytes for every request.
"""
from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger(__name__)

MARK = "X-Realesrgan-Starting"
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Real-ESRGAN Ultimate is starting</title>
<style>body{font:16px system-ui,sans-serif;margin:0;display:grid;place-items:center;height:100vh;color:#333}
main{text-align:center;padding:1rem}.dot{display:inline-block;animation:b 1s infinite}
@keyframes b{50%{opacity:.2}}</style></head>
<body><main><h1>Real-ESRGAN Ultimate is starting<span class="dot">&hellip;</span></h1>
<p>This page opens the app by itself in a few seconds.</p></main>
<script>
(function ask() {
  fetch(location.href, {cache: "no-store"})
    .then(function (r) {
      if (r.headers.get("MARK_HEADER") === null && r.status < 500) location.reload(); else setTimeout(ask, 500);
    })
    .catch(function () { setTimeout(ask, 500); });
})();
</script></body></html>
""".replace("MARK_HEADER", MARK).encode()
BUSY = b'{"error": "The app is starting; try again in a few seconds."}'


class _Handler(BaseHTTPRequestHandler):
    server_version = "starting"
    sys_version = ""

    def _answer(self, with_body: bool) -> None:
        wants_page = "text/html" in self.headers.get("Accept", "") or self.path in ("/", "")
        body, kind = (PAGE, "text/html; charset=utf-8") if wants_page else (BUSY, "application/json")
        self.send_response(503)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Retry-After", "1")
        self.send_header("Cache-Control", "no-store")
        self.send_header(MARK, "1")
        self.send_header("Connection", "close")
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (the standard library's names)
        self._answer(True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(False)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        log.debug("starting page: " + format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, host: str, port: int):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), _Handler)


class StartingPage:
    """`start()` serves the page on (host, port) in a thread; `stop()` frees the address for the app.
    If the address cannot be bound (in use, no permission), there is no page and the app's own start
    reports the problem."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        try:
            self._server = _Server(self.host, self.port)
        except OSError as error:
            log.debug("no starting page on %s:%d: %s", self.host, self.port, error)
            return False
        self._server.timeout = 0.5
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="starting-page", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> StartingPage:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
