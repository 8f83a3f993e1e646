"""Playing a simulated call aloud on this machine (``ivr call --audio``).

Owns finding a way to make sound (sox's ``play``, else ``aplay``; espeak-ng for words that were
said rather than played) and playing a call's turns in order: a ``<Play>`` from the local file
when the recordings folder has it (else fetched from its URL), a ``<Say>`` spoken by espeak-ng
in its language (the voice is ``ivr.voice.languages``'). When sound cannot be made it says why
once and falls silent; the call goes on. Runs programs; knows nothing of Flask or the flows.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path

from ivr.media.recordings import AudioLibrary
from ivr.media.recordings import served_path
from ivr.testing.simulator import Turn
from ivr.voice.languages import EN_US
from ivr.voice.languages import language

PLAYERS = (("play", ("-q",)), ("aplay", ("-q",)))
INSTALL = "install sox (Debian/Ubuntu `sudo apt-get install sox`, macOS `brew install sox`)"

Run = Callable[[list[str]], "subprocess.CompletedProcess[str]"]


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


class Speaker:
    """Plays turns through ``player``; ``espeak`` (optional) voices said words."""

    def __init__(
        self,
        player: Sequence[str],
        espeak: str | None,
        library: AudioLibrary | None,
        *,
        run: Run = _run,
        warn: Callable[[str], None] = print,
    ) -> None:
        self.player = list(player)
        self.espeak = espeak
        self.files = library.files() if library is not None else {}  # the same allow-list
        self.urls: dict[str, str] = {}  # a played prompt's text -> the URL it was played from
        self.enabled = True
        self._run = run
        self._warn = warn
        self._warned_say = False

    @classmethod
    def find(
        cls,
        library: AudioLibrary | None,
        *,
        which: Callable[[str], str | None] = shutil.which,
        run: Run = _run,
        warn: Callable[[str], None] = print,
    ) -> Speaker:
        """A speaker with the first player found; ``RuntimeError`` saying why there is none."""
        for name, args in PLAYERS:
            path = which(name)
            if path is not None:
                return cls([path, *args], which("espeak-ng"), library, run=run, warn=warn)
        raise RuntimeError(
            f"no audio player here: neither `play` nor `aplay` is installed; {INSTALL}"
        )

    def heard(self, play_text: Callable[[str], str | None]) -> Callable[[str], str | None]:
        """Wrap the simulator's ``play_text`` to remember which URL each played text came from."""

        def text_of(url: str) -> str | None:
            text = play_text(url)
            self.urls[text if text is not None else f"[play {url}]"] = url
            return text

        return text_of

    def play(self, turns: Sequence[Turn]) -> None:
        """Play the IVR's say and play turns, in order."""
        for turn in turns:
            if not self.enabled or turn.speaker != "ivr":
                continue
            if turn.kind == "play":
                self._play_recording(turn.text)
            elif turn.kind == "say" and turn.text:
                self._say(turn.text, turn.lang)

    def _play_recording(self, text: str) -> None:
        url = self.urls.get(text)
        if url is None:
            return
        rel = served_path(url)
        local = self.files.get(rel) if rel is not None else None
        if local is not None:
            self._sound(local)
            return
        if not url.startswith(("http://", "https://")):
            return
        with tempfile.TemporaryDirectory(prefix="ivr-play-") as tmp:
            path = Path(tmp) / (Path(rel or "audio.wav").name or "audio.wav")
            try:
                with urllib.request.urlopen(url, timeout=15) as response:  # noqa: S310 - our server
                    path.write_bytes(response.read())
            except OSError as exc:
                self._stop(f"could not fetch {url}: {exc}")
                return
            self._sound(path)

    def _say(self, text: str, lang: str | None) -> None:
        if self.espeak is None:
            if not self._warned_say:
                self._warn("(said words are not voiced: espeak-ng is not installed)")
                self._warned_say = True
            return
        voice = _espeak_voice(lang)
        with tempfile.TemporaryDirectory(prefix="ivr-say-") as tmp:
            path = Path(tmp) / "say.wav"
            done = self._run([self.espeak, "-v", voice, "-w", str(path), text])
            if done.returncode != 0:
                self._stop(f"espeak-ng failed: {_last_line(done)}")
                return
            self._sound(path)

    def _sound(self, path: Path) -> None:
        done = self._run([*self.player, str(path)])
        if done.returncode != 0:
            self._stop(f"{Path(self.player[0]).name} failed: {_last_line(done)}")

    def _stop(self, why: str) -> None:
        self._warn(f"(cannot play sound: {why}; going on without audio)")
        self.enabled = False


def _espeak_voice(lang: str | None) -> str:
    """espeak-ng's voice for a ``<Say language>``; English for a language not supported here."""
    try:
        return language(lang or "").espeak_voice
    except ValueError:
        return EN_US.espeak_voice


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = (done.stderr or done.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit {done.returncode}"
