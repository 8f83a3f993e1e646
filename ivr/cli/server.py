"""What ``ivr serve`` tells waitress, and what it says about access when it starts.

Owns ``waitress_options``: the keyword arguments of ``waitress.serve`` / ``create_server``
that come from the settings:

- the body cap: waitress buffers a whole request body before the app sees it, so it refuses
  one over ``IVR_MAX_BODY_BYTES`` itself (413), before reading it;
- ``IVR_TRUST_PROXY=1``: waitress drops every ``X-Forwarded-*`` header unless a proxy is
  trusted, which would leave the app's ``ProxyFix`` nothing to read and every https-signed
  webhook a 403. It trusts the one proxy in front (whatever its address: the setting says
  one is there) for ``X-Forwarded-For/Host/Proto/Port`` and clears the rest.

And ``access_notice``: the line ``ivr serve`` prints when it listens beyond this machine
without ``IVR_AGENT_TOKEN``; ``THREADS``, the threads a serving process runs by default; and
``settle_heap``, what a serving process does with its memory once the app is built. Knows
nothing of Flask or the flows; starts nothing.
"""

from __future__ import annotations

import gc
import ipaddress

from ivr.settings import Settings

# Threads per serving process (``ivr serve --threads``). A webhook is mostly CPU under the GIL,
# so threads beyond what overlaps its few database and Redis round trips only take turns:
# at 500 callers (``bench/load.py``, 2 workers) 4 threads gave a p99 of 52-110 ms where 8 gave
# 76-240 ms (three pairs, alternated) and 2 gave 88 ms; the server's CPU per request fell too.
THREADS = 4

PROXY_HEADERS = frozenset(
    {"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port"}
)


def waitress_options(
    settings: Settings, *, host: str, port: int, threads: int
) -> dict[str, object]:
    """The keyword arguments for ``waitress.serve(app, **options)``."""
    options: dict[str, object] = {
        "host": host,
        "port": port,
        "threads": threads,
        "ident": "ivr",
        # waitress refuses a body of max_request_body_size bytes or more: the cap itself passes
        "max_request_body_size": settings.max_body_bytes + 1,
    }
    if settings.trust_proxy:
        options.update(
            trusted_proxy="*",
            trusted_proxy_count=1,
            trusted_proxy_headers=set(PROXY_HEADERS),
            clear_untrusted_proxy_headers=True,
        )
    return options


def access_notice(settings: Settings, host: str) -> str | None:
    """What to tell the operator about the agent pages when listening on ``host``, or None."""
    if settings.agent_token or _loopback(host):
        return None
    return (
        f"     listening on {host} without IVR_AGENT_TOKEN: the /agent pages answer only "
        "requests from this machine; set IVR_AGENT_TOKEN to open them to your agents"
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def settle_heap() -> None:
    """Once the app is built: collect, then move every object alive now out of the garbage
    collector's sight (``gc.freeze``), so that no later collection walks them again.

    The app lives as long as the process: flows compiled into state machines, SQLAlchemy's
    tables and compiled statements, the speech models. A full collection walked all of them
    while every thread of the process waited: 87-94 ms at a time in a replay of the call
    scripts, 11.5 ms once they were frozen, and such a pause lands on the callers being
    answered at that moment (the p99 of ``bench/load.py``). Frozen objects are never freed,
    which is what the app's are. In gunicorn's master (``--preload``) it also keeps the
    forked workers from touching, and so copying, the pages those objects live on.
    """
    gc.collect()
    gc.freeze()
