"""The page that answers while the app starts (ui/starting_page.py), over real HTTP with the
standard library's client."""
import http.client
import json
import socket

import pytest

from tests.app_server import free_port
from ui.starting_page import MARK, StartingPage


def ask(port: int, method: str, path: str, accept: str = "*/*") -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, headers={"Accept": accept})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.fixture
def starting():
    page = StartingPage("127.0.0.1", free_port())
    assert page.start()
    yield page
    page.stop()


def test_a_browser_gets_the_starting_page_that_reloads_into_the_app(starting):
    for path, accept in (("/", "*/*"), ("/?__theme=dark", "text/html,application/xhtml+xml")):
        status, headers, body = ask(starting.port, "GET", path, accept)
        assert status == 503 and headers["retry-after"] == "1" and headers[MARK.lower()] == "1"
        assert headers["content-type"].startswith("text/html") and headers["cache-control"] == "no-store"
        page = body.decode()
        assert "is starting" in page and "location.reload()" in page and f'"{MARK}"' in page


def test_api_clients_get_a_json_503_to_retry(starting):
    for method in ("GET", "POST", "DELETE", "HEAD"):
        status, headers, body = ask(starting.port, method, "/api/v1/system", "application/json")
        assert status == 503 and headers["retry-after"] == "1"
        assert headers["content-type"] == "application/json"
        if method != "HEAD":
            assert "starting" in json.loads(body)["error"]
        else:
            assert body == b""


def test_stop_frees_the_address_for_the_app(starting):
    starting.stop()
    with socket.socket() as app:  # what Gradio does next: bind the same address
        app.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        app.bind(("127.0.0.1", starting.port))
    with pytest.raises(ConnectionRefusedError):
        ask(starting.port, "GET", "/")
    starting.stop()  # a second stop is harmless


def test_an_address_in_use_means_no_page_and_no_error():
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        page = StartingPage("127.0.0.1", other.getsockname()[1])
        assert page.start() is False
        page.stop()
