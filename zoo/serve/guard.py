"""The layer every request passes before and after the application: the bearer token (on every
route but liveness), the metrics of every answer, the access log, and the one answer to a bug (a
JSON 500; the traceback goes to the server's log, never to the client)."""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any
from urllib.parse import unquote

from zoo.serve.metrics import Metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("zoo.serve")
access = logging.getLogger("zoo.serve.access")
MODEL_PATH = re.compile(
    r"^/v2/models/(?P<name>[^/]+)(?:/versions/[^/]+)?(?:/(?P<what>ready|infer|classify|config))?/?$"
)
FIXED_ROUTES = {
    "/v2/health/live": "live",
    "/v2/health/ready": "ready",
    "/v2": "server",
    "/v2/repository/index": "index",
    "/metrics": "metrics",
}
UNAUTHORISED = (
    "this server needs the header 'Authorization: Bearer TOKEN' with the token it was started "
    "with (--token or $ZOO_SERVE_TOKEN)"
)


def route_of(path: str, models: Collection[str]) -> tuple[str, str]:
    """The route a path asks for and the model it names (\"\" for none or an unknown one): the
    metrics' labels, bounded whatever paths clients send."""
    if path in FIXED_ROUTES:
        return FIXED_ROUTES[path], ""
    found = MODEL_PATH.match(path)
    if found is None:
        return "other", ""
    name = unquote(found["name"])
    return found["what"] or "metadata", name if name in models else ""


async def respond(send: Send, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    listed = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    listed += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": listed})
    await send({"type": "http.response.body", "body": payload})


class Guard:
    """ASGI middleware around the whole application."""

    def __init__(
        self,
        app: App,
        token: str | None,
        metrics: Metrics,
        models: Collection[str],
        log_access: bool,
    ) -> None:
        self.app, self.token, self.metrics = app, token, metrics
        self.models, self.log_access = models, log_access

    def authorised(self, scope: Scope) -> bool:
        assert self.token is not None
        given = dict(scope["headers"]).get(b"authorization", b"")
        return hmac.compare_digest(given, b"Bearer " + self.token.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        route, model = route_of(scope["path"], self.models)
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if self.token is not None and route != "live" and not self.authorised(scope):
                challenge = {"www-authenticate": 'Bearer realm="zoo"'}
                await respond(sending, 401, {"error": UNAUTHORISED}, challenge)
            else:
                await self.app(scope, receive, sending)
        except Exception:
            log.exception("error answering %s %s", scope["method"], scope["path"])
            if not status:
                error = {"error": "internal error: the server's log has the details"}
                await respond(sending, 500, error, {})
        finally:
            seconds = time.perf_counter() - started
            self.metrics.answered(route, model, status or 500, seconds)
            if self.log_access:
                client = scope.get("client") or ("-", 0)
                access.info(
                    '%s:%s "%s %s" %d %.1f ms',
                    client[0],
                    client[1],
                    scope["method"],
                    scope["path"],
                    status or 500,
                    1000 * seconds,
                )
