"""Offline speech synthesis for prompt recordings: espeak-ng speaks, sox makes telephone WAV.

Owns finding the two programs (and what to install when one is missing), turning one text
into an 8 kHz mono μ-law WAV (Twilio's native telephone audio, about 8 KB a second) with the
silence at both ends trimmed, and making the hold music with sox's synthesizer. Each
language's espeak-ng voice and speed are ``ivr.voice.languages``'. Runs programs; knows
nothing of flows or the manifest (``ivr.media.recordings`` and ``ivr.cli.prompts`` do).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ivr.errors import ToolMissing
from ivr.errors import TtsError
from ivr.voice.languages import CODES
from ivr.voice.languages import Language
from ivr.voice.languages import language

TELEPHONE = ("-r", "8000", "-c", "1", "-e", "u-law")  # sox output options
# Trim silence at the start, then (reversed) at the end; a short tail separates prompts.
TRIM = ("silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse")
TAIL = ("pad", "0", "0.15")
TIMEOUT = 60  # seconds for one program run

INSTALL = (
    "install them: Debian/Ubuntu `sudo apt-get install espeak-ng sox`, "
    "Fedora `sudo dnf install espeak-ng sox`, macOS `brew install espeak-ng sox`"
)

# Hold music: a slow plucked arpeggio (note, seconds), repeated; Twilio loops the hold page.
HOLD_NOTES: tuple[tuple[str, float], ...] = (
    ("C4", 0.5),
    ("E4", 0.5),
    ("G4", 0.5),
    ("C5", 0.75),
    ("A3", 0.5),
    ("C4", 0.5),
    ("E4", 0.5),
    ("A4", 0.75),
    ("F3", 0.5),
    ("A3", 0.5),
    ("C4", 0.5),
    ("F4", 0.75),
    ("G3", 0.5),
    ("B3", 0.5),
    ("D4", 0.5),
    ("G4", 0.75),
)
HOLD_ROUNDS = 2


@dataclass(frozen=True)
class Tools:
    espeak: str
    sox: str


def find_tools(need: Sequence[str] = ("espeak-ng", "sox")) -> Tools:
    """The programs' paths, or ``ToolMissing`` naming every one that is absent."""
    found = {name: shutil.which(name) for name in need}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise ToolMissing(missing, INSTALL)
    return Tools(found.get("espeak-ng") or "", found.get("sox") or "")


def _language(lang: str) -> Language:
    try:
        return language(lang)
    except ValueError:
        raise TtsError(f"no espeak-ng voice for {lang!r}; known: {', '.join(CODES)}") from None


def voice_for(lang: str) -> str:
    """The espeak-ng voice of a language: ``cmn`` for zh-CN."""
    return _language(lang).espeak_voice


def describe(lang: str) -> str:
    """The voice as the manifest records it: ``espeak-ng cmn``."""
    return f"espeak-ng {voice_for(lang)}"


def made_by(voice: str) -> bool:
    """Whether a manifest's ``voice`` is this module's (else a person recorded it)."""
    return voice.startswith("espeak-ng")


def synthesize(text: str, lang: str, dest: Path, tools: Tools) -> float:
    """Speak ``text`` in ``lang`` into ``dest`` (8 kHz mono μ-law WAV); its length in seconds.
    ``dest`` is replaced only once the new file is complete."""
    spoken = _language(lang)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ivr-tts-") as tmp:
        raw = Path(tmp) / "raw.wav"
        out = Path(tmp) / "out.wav"
        speed = str(spoken.espeak_speed)
        _run(
            [tools.espeak, "-v", spoken.espeak_voice, "-s", speed, "-w", str(raw), "--stdin"],
            stdin=text.strip(),
        )
        _run([tools.sox, str(raw), *TELEPHONE, str(out), *TRIM, *TAIL])
        shutil.move(str(out), dest)
    return duration(dest)


def hold_music(dest: Path, tools: Tools) -> float:
    """Make the hold music (a soft plucked arpeggio) into ``dest``; its length in seconds."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ivr-music-") as tmp:
        notes: list[str] = []
        for index, (note, seconds) in enumerate(HOLD_NOTES * HOLD_ROUNDS):
            path = Path(tmp) / f"{index:03d}.wav"
            _run(
                [
                    tools.sox,
                    "-n",
                    "-r",
                    "8000",
                    "-c",
                    "1",
                    str(path),
                    "synth",
                    str(seconds),
                    "pluck",
                    note,
                    "vol",
                    "0.4",
                ]
            )
            notes.append(str(path))
        out = Path(tmp) / "hold.wav"
        # fade before reverb: the other way round sox 14.4 cuts the music short
        _run([tools.sox, *notes, *TELEPHONE, str(out), "fade", "0.5", "-0", "1", "reverb", "40"])
        shutil.move(str(out), dest)
    return duration(dest)


def duration(path: Path) -> float:
    """Seconds of audio in an 8 kHz μ-law WAV (one byte a sample after the header)."""
    size = path.stat().st_size
    return max(0, size - 58) / 8000  # sox writes a 58-byte header for μ-law WAV


def _run(cmd: list[str], *, stdin: str | None = None) -> None:
    try:
        done = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TtsError(f"{Path(cmd[0]).name} could not run: {exc}") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise TtsError(
            f"{Path(cmd[0]).name} failed (exit {done.returncode}): "
            f"{detail[-1] if detail else 'no message'}"
        )
