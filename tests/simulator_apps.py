"""Tiny WSGI apps for the simulator's tests: canned TwiML per path, every request kept, and
``served`` to put one behind a real HTTP server for a test.

Plain werkzeug (no Flask), so the simulator is tested against bare HTTP behaviour.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import make_server

from werkzeug.wrappers import Request
from werkzeug.wrappers import Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIEnvironment

Handler = Callable[[Request], "Response | str"]


@dataclass(frozen=True)
class Seen:
    """One request as the app saw it."""

    method: str
    url: str  # the full URL, query string included
    path: str
    args: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]


def twiml(
    body: str,
    *,
    state: str | None = None,
    flow: str | None = None,
    status: int = 200,
    content_type: str = "text/xml",
) -> Response:
    """A reply carrying ``body`` as is (so tests can send broken documents too)."""
    response = Response(body, status=status, content_type=content_type)
    if state is not None:
        response.headers["X-IVR-State"] = state
    if flow is not None:
        response.headers["X-IVR-Flow"] = flow
    return response


def redirect(location: str, status: int = 302) -> Handler:
    def handler(request: Request) -> Response:
        return Response("", status=status, headers={"Location": location})

    return handler


class TwimlApp:
    """Answers each path from ``routes`` (a TwiML string or a handler); 404 elsewhere.

    ``/voice/status`` answers 204 unless routed. ``seen`` keeps every request in order.
    """

    def __init__(self, routes: Mapping[str, str | Handler]) -> None:
        self.routes = dict(routes)
        self.seen: list[Seen] = []

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        self.seen.append(
            Seen(
                method=request.method,
                url=request.url,
                path=request.path,
                args=dict(request.args),
                form=dict(request.form),
                headers=dict(request.headers),
            )
        )
        route = self.routes.get(request.path)
        response: Response
        if route is None:
            status = 204 if request.path == "/voice/status" else 404
            response = Response("", status=status)
        elif isinstance(route, str):
            response = twiml(route)
        else:
            result = route(request)
            response = twiml(result) if isinstance(result, str) else result
        return response(environ, start_response)

    def paths(self) -> list[str]:
        return [seen.path for seen in self.seen]

    def last(self, path: str) -> Seen:
        return [seen for seen in self.seen if seen.path == path][-1]


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextmanager
def served(app: TwimlApp) -> Iterator[str]:
    """``app`` on a free local port over real HTTP, for the ``with`` block; its base URL."""
    server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
