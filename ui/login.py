"""Password check for the web UI's login, with failed attempts slowed down per client.

Gradio's built-in auth answers a wrong password at once and without limit. Here each client address
has a failure count: after a failure the answer waits `delay_for(count)` seconds (1, 2, 4, ... up to
30), and one client's attempts are answered one at a time, so guessing in parallel is no faster.
Another client (the real user) is never held up by someone else's guessing. The wait is
asynchronous: it holds no server thread. A success resets the count; counts also fade after a
quiet `FORGET_AFTER_S`, and the records of quiet clients are dropped, so guesses from ever new
addresses cannot grow the server's memory without end. (Behind a reverse proxy every client has the
proxy's address.)
"""
from __future__ import annotations

import asyncio
import contextvars
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

log = logging.getLogger(__name__)

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0
FORGET_AFTER_S = 15 * 60
SWEEP_EVERY_S = 60.0  # how often the records of clients quiet for FORGET_AFTER_S are dropped
# The address of the client whose request is being handled, set by `ClientAddress` below: Gradio
# calls the auth function with the name and password only.
client_address: contextvars.ContextVar[str] = contextvars.ContextVar("client_address", default="unknown")


def delay_for(failures: int, first_delay_s: float = FIRST_DELAY_S) -> float:
    """Seconds to wait before answering the `failures`-th failure in a row (1-based)."""
    return 0.0 if failures <= 0 else min(MAX_DELAY_S, first_delay_s * 2 ** (failures - 1))


class LoginThrottle:
    def __init__(self, users: Iterable[tuple[str, str]], *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, clock: Callable[[], float] = time.monotonic,
                 first_delay_s: float = FIRST_DELAY_S):
        self.passwords = dict(users)
        self.first_delay_s = first_delay_s
        self.sleep, self.clock = sleep, clock
        self.failures: dict[str, tuple[int, float]] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self.swept = clock()

    def forget_quiet_clients(self) -> None:
        """Drop the failure counts that have faded and the locks no attempt holds."""
        now = self.clock()
        if now - self.swept < SWEEP_EVERY_S:
            return
        self.swept = now
        self.failures = {client: (count, last) for client, (count, last) in self.failures.items()
                         if now - last <= FORGET_AFTER_S}
        self.locks = {client: lock for client, lock in self.locks.items()
                      if lock.locked() or client in self.failures}

    async def check(self, username: str, password: str) -> bool:
        """Gradio's auth callable (a coroutine function, so Gradio awaits it)."""
        client = client_address.get()
        self.forget_quiet_clients()
        async with self.locks.setdefault(client, asyncio.Lock()):
            expected = self.passwords.get(username)
            right = hmac.compare_digest(password.encode("utf-8"), (expected or "\x00").encode("utf-8"))
            if expected is not None and right:
                self.failures.pop(client, None)
                return True
            count, last = self.failures.get(client, (0, 0.0))
            if self.clock() - last > FORGET_AFTER_S:
                count = 0
            count += 1
            self.failures[client] = (count, self.clock())
            wait = delay_for(count, self.first_delay_s)
            log.warning("failed login for %r from %s (%d in a row); answering in %.0f s", username[:64], client,
                        count, wait)
            await self.sleep(wait)
            return False


class ClientAddress:
    """ASGI middleware: makes the requesting client's address known to `LoginThrottle`."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("client"):
            client_address.set(scope["client"][0])
        return await self.app(scope, receive, send)
