"""``ivr serve --reload``: run the server in a child process and restart it on every edit.

Owns ``serve_with_reload``, a small polling watcher: it starts the server command, notes the
modification times of every ``*.yaml``, ``*.yml`` and ``*.py`` file under the watched folders
(``flows/`` and the ``ivr`` package), and when one changes, appears or goes, stops the child
and starts it again. A child that stops by itself (a broken flow, a taken port) is started
again at the next edit, so fixing the file is enough. For development only: a production
server is started without it. Runs programs and reads file times; imports nothing of ``ivr``.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

WATCHED_SUFFIXES = (".yaml", ".yml", ".py")
STOP_SECONDS = 5.0

Snapshot = dict[Path, int]


def snapshot(folders: Iterable[Path]) -> Snapshot:
    """Every watched file under ``folders`` and its modification time (ns)."""
    times: Snapshot = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            if path.suffix in WATCHED_SUFFIXES and path.is_file():
                try:
                    times[path] = path.stat().st_mtime_ns
                except OSError:  # removed between listing and stat: the next poll sees it
                    continue
    return times


def changed(before: Snapshot, after: Snapshot) -> list[Path]:
    """The files edited, added or removed between two snapshots."""
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def serve_with_reload(
    command: Sequence[str],
    folders: Sequence[Path],
    *,
    echo: Callable[[str], None],
    interval: float = 0.5,
    polls: int | None = None,
) -> None:
    """Run ``command`` and restart it whenever a file under ``folders`` changes, until Ctrl-C
    (or, for tests, ``polls`` polls)."""
    signal.signal(signal.SIGTERM, _interrupt)  # a `kill` stops the child too
    seen = snapshot(folders)
    child = subprocess.Popen(command)
    echo(f"ivr: --reload: watching {', '.join(str(f) for f in folders)}")
    count = 0
    try:
        while polls is None or count < polls:
            count += 1
            time.sleep(interval)
            now = snapshot(folders)
            edits = changed(seen, now)
            if not edits:
                continue
            seen = now
            echo(f"ivr: --reload: {edits[0]} changed; restarting")
            _stop(child)
            child = subprocess.Popen(command)
    except KeyboardInterrupt:
        echo("ivr: stopped")
    finally:
        _stop(child)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
