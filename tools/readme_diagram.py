"""Paste docs/hotline.mmd into README.md's hotline ```mermaid block (after `ivr graph`).

ivr graph hotline --out docs/hotline.mmd && python3 tools/readme_diagram.py
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    readme = ROOT / "README.md"
    diagram = (ROOT / "docs" / "hotline.mmd").read_text(encoding="utf-8")
    text = readme.read_text(encoding="utf-8")
    new, count = re.subn(
        r"```mermaid\n%% flow hotline:.*?```",
        lambda _: f"```mermaid\n{diagram}```",
        text,
        flags=re.DOTALL,
    )
    if count == 0:
        raise SystemExit("README.md has no ```mermaid block for the hotline")
    readme.write_text(new, encoding="utf-8")
    print(f"README.md: {count} hotline diagram(s) replaced")


if __name__ == "__main__":
    main()
