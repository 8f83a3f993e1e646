"""What a browser phone action costs on the server: one ``/phone/api`` request, end to end.

A dial (the welcome, then the language key the page chose: two webhooks) and a key press (one
webhook) through the browser phone's API, as the page sends them: the API, the simulator, the
in-process transport into the app's real webhooks (signed, since ``TWILIO_AUTH_TOKEN`` is set),
the transcript back as JSON. SQLite file, recordings off, the WSGI test client in one process
(no network). Each round is Li Na's call: dial, PIN, login help, solved, survey. Prints the
figures quoted in the README.

    python bench/phone.py [--quick] [--calls N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.clock import SystemClock  # noqa: E402
from ivr.testing.console import CallTimeClock  # noqa: E402
from ivr.testing.console_web import install_phone  # noqa: E402
from ivr.web.app import create_app  # noqa: E402

TOKEN = "bench-agent-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
KEYS = ("123456", "7", "1", "5")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a few calls only (CI)")
    parser.add_argument("--calls", type=int, default=0, help="calls to place (default 100)")
    args = parser.parse_args()
    calls = args.calls or (5 if args.quick else 100)
    folder = tempfile.mkdtemp(prefix="ivr-bench-phone-")
    clock = CallTimeClock(SystemClock())
    app = create_app(
        {
            "IVR_DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
            "IVR_AUDIO": "off",
            "IVR_LOG_LEVEL": "WARNING",
            "TWILIO_AUTH_TOKEN": "bench-twilio-token",
            "IVR_PIN_KEY": "bench-pin-key-" + "k" * 32,
            "IVR_AGENT_TOKEN": TOKEN,
        },
        clock=clock,
        environ={},
    )
    install_phone(app, clock)
    client = app.test_client()
    dials: list[float] = []
    presses: list[float] = []

    def timed(path: str, body: dict[str, Any], into: list[float]) -> Any:
        started = time.perf_counter()
        reply = client.post(path, json=body, headers=AUTH)
        into.append((time.perf_counter() - started) * 1000)
        assert reply.status_code in (200, 201), reply.get_data(as_text=True)
        return reply.get_json()

    for _ in range(calls):
        call = timed("/phone/api/calls", {"from": "+8613800000002", "lang": "en-US"}, dials)
        for keys in KEYS:
            call = timed(
                f"/phone/api/calls/{call['id']}/press",
                {"value": keys, "since": call["next"]},
                presses,
            )
        assert call["ended"], call
    print(f"browser phone API, {calls} calls (dial + {len(KEYS)} key presses each), in-process:")
    print(f"  dial  (2 webhooks): {_figures(dials)}")
    print(f"  press (1 webhook):  {_figures(presses)}")


def _figures(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[max(0, int(len(ordered) * 0.9) - 1)]
    return f"median {statistics.median(ordered):.1f} ms, p90 {p90:.1f} ms (n={len(ordered)})"


if __name__ == "__main__":
    main()
