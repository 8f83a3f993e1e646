"""Demo control: the test mode in which ``ivr replay --url`` may move a server's clock and put
its demo data back, so that call scripts replay against a running server as they do in-process.

Owns ``DemoClock`` (the server's clock: the configured one until the control sets a time, then
stopped there, moving only when told), ``install_demo_control`` and the ``/demo/control``
blueprint it registers:

- ``GET /demo/control``: ``{"clock": <ISO time>, "fixed": <bool>}``; replay asks it first, and
  a 404 means the server was not started in this mode.
- ``POST /demo/control`` (form): ``at=<ISO time>`` sets the clock, ``reset=1`` then puts the
  demo accounts back as they were (``ivr demo reset``), ``release=1`` returns to the
  configured clock.

It is never on by default: only ``ivr serve --demo-control`` installs it, and it refuses a
public server (``TWILIO_AUTH_TOKEN`` set), since anyone who reaches it could rewrite the
wallet's data and time. The blueprint checks that again on every request. Reads the
``Runtime``; holds no call logic.
"""

from __future__ import annotations

import threading
from datetime import datetime
from datetime import timedelta

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from flask import jsonify
from flask import request

from ivr.clock import Clock
from ivr.clock import as_utc
from ivr.errors import ConfigError
from ivr.wallet import DemoSnapshot
from ivr.web.runtime import Runtime
from ivr.web.runtime import runtime

CONTROL_PATH = "/demo/control"
EXTENSION = "ivr.demo_control"  # app.extensions key: present only where the mode is on
SNAPSHOT = "ivr.demo_snapshot"  # app.extensions key: the demo data kept for resets
PUBLIC_SERVER = (
    "demo control is refused on a public server (TWILIO_AUTH_TOKEN is set): it lets anyone "
    "who reaches it reset the wallet's data and move its clock"
)

bp = Blueprint("demo_control", __name__)


class DemoClock:
    """The configured clock until ``set``; then a clock stopped at that time, moved only by
    ``set`` and ``advance`` (as the simulator's clock is), until ``release``."""

    def __init__(self, configured: Clock) -> None:
        self._configured = configured
        self._fixed: datetime | None = None
        self._lock = threading.Lock()

    def now(self) -> datetime:
        fixed = self._fixed
        return fixed if fixed is not None else self._configured.now()

    @property
    def fixed(self) -> bool:
        return self._fixed is not None

    def set(self, at: datetime) -> None:
        with self._lock:
            self._fixed = as_utc(at)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._fixed = self.now() + timedelta(seconds=seconds)

    def release(self) -> None:
        with self._lock:
            self._fixed = None


def install_demo_control(app: Flask, clock: DemoClock) -> None:
    """Turn demo control on for ``app``, built with ``clock``; ``ConfigError`` on a public
    server or when the app runs on another clock."""
    rt: Runtime = app.extensions["ivr"]
    if rt.settings.twilio_auth_token:
        raise ConfigError(PUBLIC_SERVER)
    if rt.services.clock is not clock:
        raise ConfigError("demo control needs the app built with its DemoClock")
    app.extensions[EXTENSION] = clock
    # replays reset the demo data before every call, mostly at one time: keep it in memory
    app.extensions[SNAPSHOT] = DemoSnapshot(rt.database, clock, rt.pins)
    app.register_blueprint(bp)


def _clock() -> DemoClock | None:
    clock = current_app.extensions.get(EXTENSION)
    return clock if isinstance(clock, DemoClock) else None


def _refusal(message: str, status: int) -> Response:
    reply = jsonify({"error": message})
    reply.status_code = status
    return reply


@bp.before_request
def _only_in_demo_mode() -> Response | None:
    if _clock() is None:
        return _refusal(
            "demo control is off: start the server with `ivr serve --demo-control`", 404
        )
    if runtime().settings.twilio_auth_token:
        return _refusal(PUBLIC_SERVER, 403)
    return None


@bp.get(CONTROL_PATH)
def status() -> Response:
    clock = _clock()
    assert clock is not None  # _only_in_demo_mode answered otherwise
    return jsonify({"clock": clock.now().isoformat(), "fixed": clock.fixed})


@bp.post(CONTROL_PATH)
def control() -> Response:
    clock = _clock()
    assert clock is not None  # _only_in_demo_mode answered otherwise
    form = request.form
    if form.get("release") == "1":
        clock.release()
    at = form.get("at")
    if at:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            return _refusal(f"at={at!r} is not an ISO 8601 time", 400)
        if moment.tzinfo is None:
            return _refusal(f"at={at!r} needs its offset, like 2026-11-23T10:00:00+08:00", 400)
        clock.set(moment)
    if form.get("reset") == "1":
        snapshot = current_app.extensions[SNAPSHOT]
        assert isinstance(snapshot, DemoSnapshot)
        snapshot.restore()
    return status()
