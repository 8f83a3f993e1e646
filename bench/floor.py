"""The floor: the least a webhook can cost with the parts issue 13 names, served like the IVR.

``bench/load.py`` serves it next to the IVR and the bare endpoint and puts it through the same
phases; ``python bench/floor.py [--quick] [--requests N]`` prints the CPU of each part alone,
in-process.

For every POST it does once, with the same libraries, what each IVR webhook must do and
nothing else:

- parse Twilio's form (werkzeug) and check ``X-Twilio-Signature`` (twilio's
  ``RequestValidator``, one signature computed);
- take the call's lock and load its session from Redis in one round trip, and save it and
  release the lock in one more (pipelines; JSON in, JSON out);
- move a python-statemachine ``StateChart`` by one event, on an instance the thread keeps
  (a menu of 8 options and its repeat, agent and invalid-input events, as the hotline's main
  menu has);
- write the webhook's call-record event to PostgreSQL: one INSERT through SQLAlchemy Core,
  in autocommit, on a pool made for it;
- build the answer with twilio's TwiML builder (a ``<Gather>`` holding a ``<Say>``, then a
  ``<Redirect>``).

No flow, no wallet read, no error handling, no logging: whatever the IVR spends beyond this
is its own code (``bench/load.py`` reports the ratio of each to the bare endpoint). Not a
product: nothing here answers a caller.
"""

from __future__ import annotations

import hmac
import json
import threading
from datetime import UTC
from datetime import datetime
from typing import Any

TABLE = "floor_events"
SESSIONS = "floor_sessions"
OPTIONS = 8


def create_table(database_url: str) -> None:
    """The floor's tables (call-record events; sessions, for the SQL store), made before its
    workers start."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE IF NOT EXISTS {TABLE} (id BIGSERIAL PRIMARY KEY, "
                "call_sid VARCHAR(64) NOT NULL, seq INTEGER NOT NULL, "
                "at TIMESTAMP WITH TIME ZONE NOT NULL, state VARCHAR(64) NOT NULL, "
                "kind VARCHAR(16) NOT NULL, detail VARCHAR(200) NOT NULL)"
            )
        )
        conn.execute(
            sa.text(
                f"CREATE TABLE IF NOT EXISTS {SESSIONS} (call_sid VARCHAR(64) PRIMARY KEY, "
                "data TEXT NOT NULL, locked_until TIMESTAMP WITH TIME ZONE)"
            )
        )
    engine.dispose()


# The SQL store's two statements: take the lease and read the session (a new call's row is
# made), then save it, write the event and give the lease back, in one data-modifying WITH.
_SQL_LOCK_AND_LOAD = f"""
INSERT INTO {SESSIONS} (call_sid, data, locked_until)
VALUES (:sid, '{{"seq": 0}}', now() + interval '5 seconds')
ON CONFLICT (call_sid) DO UPDATE SET locked_until = EXCLUDED.locked_until
WHERE {SESSIONS}.locked_until IS NULL OR {SESSIONS}.locked_until < now()
RETURNING data"""
_SQL_SAVE = f"""
WITH event AS (
  INSERT INTO {TABLE} (call_sid, seq, at, state, kind, detail)
  VALUES (:sid, :seq, :at, 'menu', 'input', :detail)
)
UPDATE {SESSIONS} SET data = :data, locked_until = NULL WHERE call_sid = :sid"""


def menu_chart() -> type[Any]:
    """A StateChart shaped like the hotline's main menu: 8 options, each a state with a way
    back, and the menu's repeat, agent and invalid-input events."""
    from statemachine import State
    from statemachine import StateChart

    attrs: dict[str, Any] = {"menu": State(initial=True), "agent": State(final=True)}
    for i in range(1, OPTIONS + 1):
        attrs[f"option_{i}"] = State()
    menu = attrs["menu"]
    for i in range(1, OPTIONS + 1):
        target = attrs[f"option_{i}"]
        attrs[f"press_{i}"] = menu.to(target)
        attrs[f"back_{i}"] = target.to(menu)
    attrs["repeat"] = menu.to.itself()
    attrs["no_match"] = menu.to.itself()
    attrs["no_input"] = menu.to.itself()
    attrs["press_0"] = menu.to(attrs["agent"])
    attrs["on_enter_menu"] = lambda self: None
    return type("Menu", (StateChart,), attrs)


class Parts:
    """The floor's parts, each a method: the webhook runs them in order, and ``parts``
    times each alone. Sessions in Redis at ``redis_url``, or with ``redis_url`` None in
    PostgreSQL (the SQL store: two statements, the event written with the save)."""

    def __init__(self, redis_url: str | None, database_url: str, token: str) -> None:
        import redis
        import sqlalchemy as sa
        from twilio.request_validator import RequestValidator

        self.validator = RequestValidator(token)
        self.redis = redis.Redis.from_url(redis_url) if redis_url else None
        self.sql_lock = sa.text(_SQL_LOCK_AND_LOAD)
        self.sql_save = sa.text(_SQL_SAVE)
        self.engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT", pool_size=8)
        columns = ("call_sid", "seq", "at", "state", "kind", "detail")
        self.insert = sa.insert(sa.table(TABLE, *(sa.column(c) for c in columns)))
        self.chart = menu_chart()
        self.local = threading.local()

    def signed(self, url: str, fields: dict[str, str], signature: str) -> bool:
        expected = self.validator.compute_signature(url, fields)
        return hmac.compare_digest(expected, signature)

    def lock_and_load(self, sid: str) -> dict[str, Any]:
        if self.redis is None:
            with self.engine.begin() as conn:
                stored = conn.execute(self.sql_lock, {"sid": sid}).scalar()
        else:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.set(f"floor:lock:{sid}", "1", nx=True, px=5000)
                pipe.get(f"floor:session:{sid}")
                _, stored = pipe.execute()
        session: dict[str, Any] = json.loads(stored) if stored else {"seq": 0, "data": {}}
        session["sid"] = sid
        return session

    def step(self) -> None:
        machine = getattr(self.local, "machine", None)
        if machine is None:
            machine = self.local.machine = self.chart()
        machine.send("repeat")

    def record(self, sid: str, seq: int, detail: str) -> None:
        row = {
            "call_sid": sid,
            "seq": seq,
            "at": datetime.now(UTC),
            "state": "menu",
            "kind": "input",
            "detail": detail,
        }
        with self.engine.begin() as conn:
            conn.execute(self.insert, row)

    def twiml(self, seq: int) -> str:
        from twilio.twiml.voice_response import Gather
        from twilio.twiml.voice_response import VoiceResponse

        response = VoiceResponse()
        action = f"/voice/step?n={seq}"
        gather = Gather(action=action, input="dtmf speech", num_digits=1, language="en-US")
        gather.say(
            "Press 1 for a frozen account, 2 for a failed payment, 0 for an agent.",
            voice="Polly.Joanna",
            language="en-US",
        )
        response.append(gather)
        response.redirect(action)
        return str(response)

    def save_and_unlock(self, session: dict[str, Any], detail: str) -> None:
        """Save the session and release its lock; the call-record event goes with it."""
        sid = session["sid"]
        if self.redis is None:
            values = {"seq": session["seq"], "at": datetime.now(UTC), "detail": detail}
            with self.engine.begin() as conn:
                conn.execute(self.sql_save, {"sid": sid, "data": json.dumps(session), **values})
            return
        self.record(sid, session["seq"], detail)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(f"floor:session:{sid}", json.dumps(session), ex=3600)
            pipe.delete(f"floor:lock:{sid}")
            pipe.execute()


def floor_app(redis_url: str | None, database_url: str, token: str) -> Any:
    from flask import Flask
    from flask import Response
    from flask import request

    floor = Parts(redis_url, database_url, token)
    app = Flask("floor")

    @app.post("/voice")
    @app.post("/voice/<path:rest>")
    def webhook(rest: str = "") -> Response:
        form = request.form
        signature = request.headers.get("X-Twilio-Signature", "")
        if not floor.signed(request.url, form.to_dict(), signature):
            return Response("forbidden", status=403)
        session = floor.lock_and_load(form["CallSid"])
        floor.step()
        session["seq"] += 1
        body = floor.twiml(session["seq"])
        floor.save_and_unlock(session, form.get("Digits", ""))
        return Response(body, mimetype="text/xml")

    @app.get("/health")
    def health() -> Response:
        return Response('{"status": "ok"}', mimetype="application/json")

    return app


def parts(redis_url: str, database_url: str, n: int) -> dict[str, float]:
    """Each part of the floor's webhook alone, in this process: CPU microseconds per run."""
    import time

    from flask import Flask
    from flask import request

    form = {"CallSid": "CA" + "0" * 32, "From": "+8613800000001", "Digits": "1"}
    form.update({f"Field{i}": f"value {i}" for i in range(17)})  # Twilio sends about 20
    floor = Parts(redis_url, database_url, "token")
    sql = Parts(None, database_url, "token")
    url = "http://localhost/voice/step?n=3"  # what the test request context is at
    signature = floor.validator.compute_signature(url, form)
    app = Flask("parts")
    sid = form["CallSid"]

    def request_only() -> None:
        with app.test_request_context("/voice/step?n=3", method="POST", data=form):
            pass

    def signed_form() -> None:
        with app.test_request_context("/voice/step?n=3", method="POST", data=form):
            assert floor.signed(request.url, request.form.to_dict(), signature)

    def redis_store() -> None:
        floor.save_and_unlock(floor.lock_and_load(sid), "1")

    def sql_session() -> None:
        sql.save_and_unlock(sql.lock_and_load(sid), "1")

    runs = [
        ("a request context", request_only),
        ("form and signature", signed_form),
        ("Redis session store: 2 round trips, and the event's INSERT in PostgreSQL", redis_store),
        ("SQL session store instead: 2 PostgreSQL statements, the event in the save", sql_session),
        ("python-statemachine: one event", floor.step),
        ("TwiML builder", lambda: floor.twiml(4)),
    ]
    out = {}
    for name, run in runs:
        for _ in range(n // 10):
            run()
        start = time.process_time()
        for _ in range(n):
            run()
        out[name] = (time.process_time() - start) * 1e6 / n
    floor.engine.dispose()
    sql.engine.dispose()
    # The bare endpoint has a request context too: only what the form and signature add.
    out["form and signature"] -= out.pop("a request context")
    return out


if __name__ == "__main__":
    import argparse
    import os

    from webhook import postgres_schema  # a private schema on the local PostgreSQL

    parser = argparse.ArgumentParser(description="CPU per part of the floor's webhook")
    parser.add_argument("--requests", type=int, help="runs of each part (default 2000)")
    parser.add_argument("--quick", action="store_true", help="300 runs of each part (CI)")
    args = parser.parse_args()
    requests = args.requests or (300 if args.quick else 2000)
    with postgres_schema() as url:
        create_table(url)
        redis_url = os.environ.get("IVR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
        figures = parts(redis_url, url, requests)
    for name, us in figures.items():
        print(f"  {us:7.0f} µs  {name}")
    common = sum(us for name, us in figures.items() if "store" not in name)
    for name, us in figures.items():
        if "store" in name:
            print(f"  {common + us:7.0f} µs  the floor's parts together, {name.split(':')[0]}")
