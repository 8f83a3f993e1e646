"""`ivr serve --reload`'s watcher, in-process and quick (tests/test_cli_first_use.py runs the
real server process under it, in the slow stage)."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

from ivr.cli.reload import changed
from ivr.cli.reload import serve_with_reload
from ivr.cli.reload import snapshot


def test_a_snapshot_holds_only_watched_files_and_skips_missing_folders(tmp_path: Path) -> None:
    (tmp_path / "hotline.yaml").write_text("a: 1\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("x = 1\n", encoding="utf-8")

    seen = snapshot([tmp_path, tmp_path / "absent"])

    assert sorted(p.name for p in seen) == ["hotline.yaml", "mod.py"]


def test_changed_names_edited_added_and_removed_files(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "c.yaml"

    found = changed({a: 1, b: 2}, {a: 1, b: 3, c: 4}) + changed({a: 1}, {})

    assert found == [b, c, a]


def test_an_edit_restarts_the_command_and_the_end_stops_it(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "hotline.yaml").write_text("a: 1\n", encoding="utf-8")
    started = tmp_path / "started"
    command = [
        sys.executable,
        "-c",
        f"open({str(started)!r}, 'a').write('x'); import time; time.sleep(30)",
    ]
    said: list[str] = []

    def edit() -> None:
        time.sleep(0.3)
        (flows / "new.yaml").write_text("b: 2\n", encoding="utf-8")

    threading.Thread(target=edit).start()
    before = signal.getsignal(signal.SIGTERM)
    try:
        serve_with_reload(command, [flows], echo=said.append, interval=0.2, polls=8)
    finally:
        signal.signal(signal.SIGTERM, before)  # it took SIGTERM over, as `ivr serve` wants

    assert said[0] == f"ivr: --reload: watching {flows}"
    assert said[1] == f"ivr: --reload: {flows / 'new.yaml'} changed; restarting"
    assert started.read_text(encoding="utf-8") == "xx"  # started, then started again
