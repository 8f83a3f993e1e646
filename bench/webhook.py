"""Server-side cost of one webhook through the full stack, against a bare Flask endpoint.

Full stack: X-Twilio-Signature check, per-call lock, session load and save (SQLite file, the
default store), one state-machine step, TwiML render, call-record writes. The caller sits in
the main menu and presses 9 (repeat) — a real step with a real render every time.
Bare: a Flask endpoint returning a constant TwiML string. Both through the WSGI test client
in one process, so neither pays for a network. Prints the figures quoted in the README.

    python bench/webhook.py [--quick] [--requests N]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from flask import Flask
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.web.app import create_app  # noqa: E402

TOKEN = "bench-token"
BASE = "http://localhost"
CONSTANT = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/voice/step?n=1" '
    'numDigits="1"><Say>Hello</Say></Gather><Redirect>/voice/step?n=1</Redirect></Response>'
)


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def full_stack(store: str, n: int) -> list[float]:
    """Per-request times of the hotline's main menu, repeated, with session store ``store``."""
    folder = tempfile.mkdtemp()
    app = create_app(
        {
            "IVR_DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
            "IVR_SESSION_STORE": store,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "IVR_LOG_LEVEL": "WARNING",
        },
        environ={},
    )
    client = app.test_client()
    validator = RequestValidator(TOKEN)

    def post(path: str, form: dict[str, str]) -> str:
        sig = validator.compute_signature(BASE + path, form)
        r = client.post(path, data=form, headers={"X-Twilio-Signature": sig})
        assert r.status_code == 200, r.get_data(as_text=True)
        return r.headers.get("X-IVR-State", "")

    sid = f"CAbench{uuid.uuid4().hex}"
    common = {"CallSid": sid, "From": "+8613800000001", "To": "+864001234567"}
    post("/voice", common)
    post("/voice/step?n=1", {**common, "Digits": "1"})
    assert post("/voice/step?n=2", {**common, "Digits": "123456"}) == "main_menu"
    step = [3]

    def one() -> None:
        state = post(f"/voice/step?n={step[0]}", {**common, "Digits": "9"})
        assert state == "main_menu"
        step[0] += 1

    timed(one, 20)
    times = timed(one, n)
    app.extensions["ivr"].database.dispose()
    return times


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), 0.5):
            return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer requests (CI)")
    parser.add_argument("--requests", type=int, default=0)
    args = parser.parse_args()
    n = args.requests or (200 if args.quick else 2000)

    bare_app = Flask("bare")

    @bare_app.post("/voice")
    def bare_voice():  # type: ignore[no-untyped-def]
        return bare_app.response_class(CONSTANT, mimetype="text/xml")

    bare_client = bare_app.test_client()
    form = {"CallSid": "CA1", "From": "+8613800000001"}

    def bare() -> None:
        assert bare_client.post("/voice", data=form).status_code == 200

    timed(bare, 20)
    bm = statistics.median(timed(bare, n)) * 1e6
    stores = ["sql", "memory"] + (["redis://127.0.0.1:6379/14"] if redis_reachable() else [])
    print(f"webhook benchmark ({n} requests each, signature checked, call records in SQLite)")
    print(f"  bare Flask endpoint          median {bm:8.0f} µs")
    for store in stores:
        times = full_stack(store, n)
        fm = statistics.median(times) * 1e6
        f95 = statistics.quantiles(times, n=20)[18] * 1e6
        label = store.split("/")[0].rstrip(":") + " sessions"
        print(
            f"  full stack, {label:17s} median {fm:8.0f} µs   p95 {f95:8.0f} µs"
            f"   {1e6 / fm:6.0f} req/s   {fm / bm:5.1f}x bare"
        )


if __name__ == "__main__":
    main()
