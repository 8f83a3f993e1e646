"""How long a recorded prompt plays: the seconds of a current recording, read from its WAV header.

Owns reading a WAV file's length from the file itself: the RIFF chunks are walked to the
``fmt `` chunk (bytes per second) and the ``data`` chunk (bytes of sound), whatever other
chunks (``fact``, ``LIST``) sit between them, so no header size is assumed. The stdlib ``wave``
module cannot do this here: it reads PCM only, and the prompts are 8 kHz μ-law (format 7), the
telephone's own. MP3 files have no fixed header to read: their length is unknown (None).

Depends on ``ivr.media.recordings`` (which recording is current) and ``ivr.flow.prompts``
(prompt ids); never writes a file and never decides budgets (``ivr.flow.budgets`` does).
"""

from __future__ import annotations

import struct
from pathlib import Path

from ivr.errors import WavHeaderError
from ivr.flow.prompts import Prompt
from ivr.media.recordings import AudioLibrary


def wav_seconds(path: Path) -> float:
    """The playing time of the WAV file at ``path``: data bytes over bytes per second."""
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise WavHeaderError(f"{path}: not a RIFF/WAVE file")
        byte_rate: int | None = None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                raise WavHeaderError(f"{path}: no data chunk")
            name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"fmt ":
                body = f.read(size)
                if len(body) < 12:
                    raise WavHeaderError(f"{path}: fmt chunk too short")
                byte_rate = struct.unpack("<I", body[8:12])[0]
            elif name == b"data":
                if not byte_rate:
                    raise WavHeaderError(f"{path}: data before fmt, or a byte rate of 0")
                return float(size) / byte_rate
            else:
                f.seek(size, 1)
            if size % 2:  # chunks are padded to an even length
                f.seek(1, 1)


class RecordedLengths:
    """The seconds each current recording of a library plays, read once per file."""

    def __init__(self, library: AudioLibrary) -> None:
        self.library = library
        self._seconds: dict[tuple[str, str, str], float | None] = {}

    def seconds(self, prompt_id: str, lang: str, text: str) -> float | None:
        """The length of the recording of ``prompt_id`` in ``lang`` when it is current (its
        manifest text is ``text``) and a WAV file; None when it must be estimated instead."""
        key = (prompt_id, lang, text.strip())
        if key not in self._seconds:
            self._seconds[key] = self._measure(Prompt(prompt_id, lang, text.strip()))
        return self._seconds[key]

    def _measure(self, prompt: Prompt) -> float | None:
        status = self.library.status(prompt)
        if status.status != "current" or status.file is None:
            return None
        path = self.library.root / status.file
        if path.suffix != ".wav":
            return None
        try:
            return wav_seconds(path)
        except (OSError, WavHeaderError):
            return None
