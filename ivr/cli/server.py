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
without ``IVR_AGENT_TOKEN``. Knows nothing of Flask or the flows; starts nothing.
"""

from __future__ import annotations

import ipaddress

from ivr.settings import Settings

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
