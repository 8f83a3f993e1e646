"""``ivr serve --workers N``: several processes under gunicorn, and what they may share.

Owns ``refuse_workers`` (the setups that break with more than one process, each refused with
a ``CliError`` that says what to use instead) and ``GunicornServer``, the gunicorn
application ``ivr serve`` runs: it binds, starts ``N`` workers of ``threads`` threads each
(``gthread``) and builds the app in each worker, or once in the master with ``--preload``.

What more than one process needs, and where it is done:

- per-call state every worker can see: the Redis or SQL session store, never ``memory``
  (refused here);
- one database every worker can reach: PostgreSQL for several hosts; a SQLite file serves the
  workers of one host only (refused here when it lies on a network file system, where its
  locks do not hold, or lives in memory);
- the schema made once: ``ivr serve`` builds the app in the master before any worker starts,
  and ``ivr.stores.migrate`` holds PostgreSQL's advisory lock while it creates or upgrades;
- no connection shared across a fork: ``ivr.db.make_engine`` empties an engine's pool in a
  forked child (the Redis client reconnects after a fork by itself).

gunicorn runs on Unix only. Where it does not (Windows), run one ``ivr serve`` (waitress) per
port and spread calls with the load balancer. Imports gunicorn only when asked to serve.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.engine import make_url

from ivr.errors import CliError
from ivr.settings import Settings

# File systems on which a SQLite file is shared between hosts (and its locks do not hold).
NETWORK_FILE_SYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre"}
)
NETWORK_FUSE = ("fuse.sshfs", "fuse.glusterfs", "fuse.s3fs", "fuse.rclone", "fuse.gcsfuse")


def refuse_workers(
    settings: Settings,
    database: str,
    workers: int,
    *,
    platform: str = sys.platform,
    mounts: Callable[[], str] | None = None,
) -> str | None:
    """Refuse ``workers`` processes with these settings (a ``CliError``), or return a note
    to print (a SQLite file: one host only); None when there is nothing to say.
    ``database`` is the URL the app will open."""
    if workers == 1:
        return None
    if platform == "win32":
        raise CliError(
            "--workers needs gunicorn, which does not run on Windows",
            "run one `ivr serve` per port (each is one process) behind your load balancer, "
            "or serve from Linux or macOS",
        )
    if settings.session_store == "memory":
        raise CliError(
            f"--workers {workers} with IVR_SESSION_STORE=memory: each process would keep its "
            "own calls, and every webhook that reached another would hear the apology",
            "set IVR_SESSION_STORE to a redis:// URL (or sql), or serve with --workers 1",
        )
    url = make_url(database)
    if url.get_backend_name() != "sqlite":
        return None
    name = url.database or ""
    if name in ("", ":memory:") or "mode=memory" in str(url.query):
        raise CliError(
            f"--workers {workers} with an in-memory SQLite database: each process would have "
            "its own",
            "set IVR_DATABASE_URL to a SQLite file or to PostgreSQL",
        )
    fs = file_system_of(Path(name), (mounts or _read_mounts)())
    if fs is not None and (fs in NETWORK_FILE_SYSTEMS or fs.startswith(NETWORK_FUSE)):
        raise CliError(
            f"the SQLite file {name} is on a network file system ({fs}): SQLite's locks do "
            "not hold across hosts, and sharing it corrupts it",
            "use PostgreSQL (IVR_DATABASE_URL=postgresql+psycopg://…) for several hosts, or "
            "a SQLite file on a local disk for the workers of one host",
        )
    return (
        f"     SQLite ({name}) serves the {workers} workers of this host only; for several "
        "hosts use PostgreSQL"
    )


def file_system_of(path: Path, mounts: str) -> str | None:
    """The type of the file system ``path`` lies on, from ``/proc/mounts`` text (the longest
    mount point that contains it); None when unknown."""
    target = path.resolve()
    best: tuple[int, str] | None = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = Path(fields[1].replace("\\040", " "))
        if (target == point or point in target.parents) and (
            best is None or len(point.parts) > best[0]
        ):
            best = (len(point.parts), fields[2])
    return best[1] if best is not None else None


def _read_mounts() -> str:
    try:
        return Path("/proc/mounts").read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux: nothing to tell
        return ""


# An access-log line: the worker's pid, the request line, the status and the milliseconds.
ACCESS_LOG_FORMAT = 'pid=%(p)s "%(r)s" %(s)s %(M)sms'


def gunicorn_options(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    threads: int,
    preload: bool,
    access_log: str | None = None,
) -> dict[str, object]:
    """gunicorn's settings for ``ivr serve --workers`` (``access_log``: a file, ``-`` for
    standard output, None for none)."""
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return {
        "bind": [address],
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "preload_app": preload,
        "proc_name": "ivr",
        # The app's ProxyFix reads X-Forwarded-* when IVR_TRUST_PROXY says a proxy is there;
        # gunicorn must not act on them too (it would by default, from 127.0.0.1).
        "secure_scheme_headers": {},
        "forwarded_allow_ips": "",
        # Twilio waits 15 s for a webhook; a worker stuck far beyond it is restarted.
        "timeout": 60,
        "graceful_timeout": 20,
        "accesslog": access_log,
        "access_log_format": ACCESS_LOG_FORMAT,
        "loglevel": settings.log_level.lower(),
        # gunicorn 24+ opens a control socket at one path per user: two servers would fight.
        "control_socket_disable": True,
    }


def serve_workers(options: dict[str, object], build: Callable[[], Flask]) -> None:
    """Run gunicorn with ``options`` until it is stopped; ``build`` makes the app (in each
    worker, or once in the master when ``preload_app``)."""
    gunicorn_application(options, build).run()


def gunicorn_application(options: dict[str, object], build: Callable[[], Flask]) -> Any:
    """gunicorn's application object: its settings from ``options``, the app from ``build``."""
    # Imported here: gunicorn is the optional extra ``ivr[server]``, and Unix-only.
    from gunicorn.app.base import BaseApplication

    class GunicornServer(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings:  # control_socket_disable: gunicorn 24+ only
                    self.cfg.set(key, value)

        def load(self) -> Flask:
            return build()

    return GunicornServer()


def gunicorn_missing() -> CliError | None:
    """A ``CliError`` saying how to install gunicorn, or None when it is installed."""
    try:
        import gunicorn  # noqa: F401 - only asking whether it is there
    except ImportError:
        return CliError(
            "--workers needs gunicorn, which is not installed",
            "pip install 'ivr[server]' (or serve with --workers 1: waitress, one process)",
        )
    return None
