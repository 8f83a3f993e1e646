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
import statistics
import sys
import tempfile
import time
from pathlib import Path

from flask import Flask
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.app import create_app  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer requests (CI)")
    parser.add_argument("--requests", type=int, default=0)
    args = parser.parse_args()
    n = args.requests or (200 if args.quick else 2000)

    folder = tempfile.mkdtemp()
    app = create_app(
        {
            "IVR_DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
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

    sid = "CAbench0000000000000000000000000"
    common = {"CallSid": sid, "From": "+8613800000001", "To": "+864001234567"}
    post("/voice", common)
    post("/voice/step?n=1", {**common, "Digits": "1"})
    assert post("/voice/step?n=2", {**common, "Digits": "123456"}) == "main_menu"
    step = [3]

    def full() -> None:
        state = post(f"/voice/step?n={step[0]}", {**common, "Digits": "9"})
        assert state == "main_menu"
        step[0] += 1

    bare_app = Flask("bare")

    @bare_app.post("/voice")
    def bare_voice():  # type: ignore[no-untyped-def]
        return bare_app.response_class(CONSTANT, mimetype="text/xml")

    bare_client = bare_app.test_client()

    def bare() -> None:
        r = bare_client.post("/voice", data=common)
        assert r.status_code == 200

    timed(full, 20)
    timed(bare, 20)
    full_t = timed(full, n)
    bare_t = timed(bare, n)
    fm, bm = statistics.median(full_t) * 1e6, statistics.median(bare_t) * 1e6
    f95 = statistics.quantiles(full_t, n=20)[18] * 1e6
    print(f"webhook benchmark ({n} requests each, SQLite session store, signature checked)")
    print(f"  full stack  median {fm:8.0f} µs   p95 {f95:8.0f} µs   {1e6 / fm:7.0f} req/s")
    print(f"  bare Flask  median {bm:8.0f} µs")
    print(f"  ratio       {fm / bm:.1f}x the bare endpoint")


if __name__ == "__main__":
    main()
