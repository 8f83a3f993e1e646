"""The folder of recorded prompts: layout, manifest, what is current, and what to play.

Layout (``IVR_AUDIO_DIR``, default ``audio_prompts/``)::

    manifest.yaml                        for each recording, the text it was recorded from
    zh-CN/hotline.main_menu.prompt.wav   one file per prompt id (``ivr.flow.prompts``) and language,
    en-US/hotline.main_menu.prompt.mp3   WAV (preferred when both exist) or MP3
    music/hold.wav                       hold music: no text, not in the manifest

A recording is *current* while the manifest's hash of the text it was recorded from matches the
prompt's text in ``flows/``; *stale* once that text changed; *unadopted* when the file has no
manifest entry (a person's recording dropped in: ``ivr prompts adopt`` records its text);
*missing* when there is no file. Only current recordings are played, and machine-made ones
(the manifest's voice is espeak-ng) only with ``IVR_AUDIO=all``: they are previews for
``ivr call --audio``; a person's recording plays with the default ``IVR_AUDIO=recorded``.
The manifest also keeps a hash of each file's bytes (``file_sha256``): a file whose bytes no
longer match (a person recorded over a rendered one) is *unadopted* again, and so is a WAV or
MP3 the manifest does not know beside one it does. ``ivr prompts render`` never overwrites an
unadopted file.

Owns reading and writing the manifest, prompt status, the files the app may serve (an
allow-list: nothing outside this folder's language and music subfolders is ever served), the
``render.Recordings`` lookup (``Playlist``) and the simulator's ``play_text``. Reads and writes
files only; never imports Flask or runs programs (``ivr.media.tts`` does that).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import urllib.parse
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Literal

import yaml

from ivr.errors import ConfigError
from ivr.errors import YamlError
from ivr.flow.prompts import Prompt
from ivr.yamlstrict import load

MANIFEST = "manifest.yaml"
MUSIC = "music"
EXTENSIONS = (".wav", ".mp3")
CONTENT_TYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg"}
URL_PREFIX = "/audio"
MUSIC_TEXT = "hold music"  # what the simulator's transcript shows for music
PERSON = "person"  # the voice of a recording adopted with `ivr prompts adopt`
# Voices of machine-made recordings (``ivr prompts render``): previews for ``ivr call --audio``,
# not played on calls unless ``IVR_AUDIO=all``.
MACHINE_VOICES = ("espeak-ng",)


def machine_made(voice: str) -> bool:
    """Whether the manifest's ``voice`` names a speech synthesiser rather than a person."""
    return voice.startswith(MACHINE_VOICES)


# A servable file name: no path separators, no leading dot, a known extension.
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\.(wav|mp3)$")
_DIR_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*$")  # zh-CN, en-US, music

Status = Literal["current", "missing", "stale", "unadopted"]

_HEADER = """\
# For each recording in this folder: the text it was recorded from (its sha256, and the text
# for people), and the voice that spoke it. A recording is played only while this hash matches
# the prompt's text in flows/. Written by `ivr prompts render` and `ivr prompts adopt`.
"""


def file_hash(path: Path) -> str:
    """The sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def text_hash(text: str) -> str:
    """The sha256 of a prompt's text (Unicode NFC, surrounding spaces stripped)."""
    return hashlib.sha256(unicodedata.normalize("NFC", text.strip()).encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    """The manifest's record of one file."""

    text: str
    sha256: str
    voice: str
    file_sha256: str = ""  # the recorded file's bytes ("" in manifests written before it)


@dataclass(frozen=True)
class PromptStatus:
    prompt: Prompt
    status: Status
    file: str | None = None  # the recording's path in the folder, when there is one
    recorded: Entry | None = None  # what the manifest says it was recorded from


class AudioLibrary:
    """One folder of recordings and its manifest."""

    def __init__(self, root: Path, entries: Mapping[str, Entry] | None = None) -> None:
        self.root = root
        self.entries: dict[str, Entry] = dict(entries or {})

    @classmethod
    def open(cls, root: Path) -> AudioLibrary:
        """Read ``root/manifest.yaml`` (a missing folder or manifest is an empty library)."""
        return cls(root, read_manifest(root / MANIFEST))

    # -- files ---------------------------------------------------------------------------------

    @staticmethod
    def relative(prompt_id: str, lang: str, ext: str = ".wav") -> str:
        return f"{lang}/{prompt_id}{ext}"

    def file_for(self, prompt_id: str, lang: str) -> str | None:
        """The recording of a prompt in a language, as a path in the folder, if one exists."""
        for ext in EXTENSIONS:
            rel = self.relative(prompt_id, lang, ext)
            if (self.root / rel).is_file():
                return rel
        return None

    def files(self) -> dict[str, Path]:
        """Every servable file: ``<lang>/<name>`` and ``music/<name>`` with a safe name."""
        out: dict[str, Path] = {}
        if not self.root.is_dir():
            return out
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir() or not _DIR_RE.match(folder.name):
                continue
            for path in sorted(folder.iterdir()):
                if path.is_file() and not path.is_symlink() and _NAME_RE.match(path.name):
                    out[f"{folder.name}/{path.name}"] = path
        return out

    # -- status -----------------------------------------------------------------------------

    def adopted(self, rel: str) -> bool:
        """Whether the manifest knows the file ``rel`` as it is now (not replaced since)."""
        entry = self.entries.get(rel)
        if entry is None:
            return False
        return not entry.file_sha256 or entry.file_sha256 == file_hash(self.root / rel)

    def status(self, prompt: Prompt) -> PromptStatus:
        existing = [
            rel
            for ext in EXTENSIONS
            if (self.root / (rel := self.relative(prompt.id, prompt.lang, ext))).is_file()
        ]
        if not existing:
            return PromptStatus(prompt, "missing")
        for rel in existing:  # a person's file, new or recorded over, comes first
            if not self.adopted(rel):
                return PromptStatus(prompt, "unadopted", rel, self.entries.get(rel))
        rel = existing[0]
        entry = self.entries[rel]
        state: Status = "current" if entry.sha256 == text_hash(prompt.text) else "stale"
        return PromptStatus(prompt, state, rel, entry)

    def statuses(self, prompts: Iterable[Prompt]) -> list[PromptStatus]:
        return [self.status(p) for p in prompts]

    def unused(self, prompts: Iterable[Prompt]) -> list[str]:
        """Recordings (and manifest entries) that belong to no prompt of the flows."""
        wanted = {self.relative(p.id, p.lang, ext) for p in prompts for ext in EXTENSIONS}
        files = {rel for rel in self.files() if not rel.startswith(f"{MUSIC}/")}
        return sorted((files | set(self.entries)) - wanted)

    # -- manifest ---------------------------------------------------------------------------

    def record(self, rel: str, text: str, voice: str) -> None:
        """Note that the file ``rel`` was recorded from ``text`` by ``voice``, as its bytes are
        now (then ``save``)."""
        path = self.root / rel
        recorded = file_hash(path) if path.is_file() else ""
        self.entries[rel] = Entry(text.strip(), text_hash(text), voice, recorded)

    def forget(self, rel: str) -> None:
        self.entries.pop(rel, None)

    def save(self) -> None:
        write_manifest(self.root / MANIFEST, self.entries)

    # -- playing ----------------------------------------------------------------------------

    def playlist(
        self, prompts: Iterable[Prompt], base_url: str = "", *, machine: bool = False
    ) -> Playlist:
        """The current recordings among ``prompts`` (and the music), with the URLs to play
        them at: ``<base_url>/audio/<lang>/<file>?v=<content hash>``. The version changes
        whenever a file does, so Twilio's cache never plays an old recording. Machine-made
        recordings (espeak-ng) are left out unless ``machine`` (``IVR_AUDIO=all``)."""
        files = self.files()
        urls: dict[tuple[str, str], str] = {}
        voices: dict[tuple[str, str], str] = {}
        for state in self.statuses(prompts):
            if state.status != "current" or state.file is None or state.file not in files:
                continue
            voice = state.recorded.voice if state.recorded is not None else ""
            if machine_made(voice) and not machine:
                continue
            key = (state.prompt.id, state.prompt.lang)
            urls[key] = audio_url(base_url, state.file, files[state.file])
            voices[key] = voice
        music = {
            Path(rel).stem: audio_url(base_url, rel, path)
            for rel, path in files.items()
            if rel.startswith(f"{MUSIC}/")
        }
        return Playlist(urls, music, voices)

    def play_text(self, url: str) -> str | None:
        """What a ``<Play>`` of ``url`` says, for the simulator's transcript: the text its
        recording was made from; "hold music" for music; None for any other URL."""
        rel = served_path(url)
        if rel is None:
            return None
        if rel.startswith(f"{MUSIC}/"):
            return MUSIC_TEXT
        entry = self.entries.get(rel)
        return entry.text if entry is not None else None


@dataclass(frozen=True)
class Playlist:
    """``render.Recordings``: the URL of each current recording, and of each piece of music."""

    urls: Mapping[tuple[str, str], str]
    tunes: Mapping[str, str]
    voices: Mapping[tuple[str, str], str] = field(default_factory=dict)

    def url(self, prompt: str, lang: str) -> str | None:
        return self.urls.get((prompt, lang))

    def voice(self, prompt: str, lang: str) -> str | None:
        return self.voices.get((prompt, lang))

    def music(self, name: str) -> str | None:
        return self.tunes.get(name)


def audio_url(base_url: str, rel: str, path: Path) -> str:
    return f"{base_url.rstrip('/')}{URL_PREFIX}/{urllib.parse.quote(rel)}?v={version(path)}"


_versions: dict[tuple[str, int, int], str] = {}


def version(path: Path) -> str:
    """A short hash of a file's bytes (remembered while its size and mtime stay the same)."""
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _versions:
        _versions[key] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return _versions[key]


def served_path(url: str) -> str | None:
    """The folder path an audio URL names (``zh-CN/x.wav``), or None for another URL."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
    marker = URL_PREFIX + "/"
    at = path.rfind(marker)
    return path[at + len(marker) :] if at >= 0 else None


def content_type(path: Path) -> str:
    return CONTENT_TYPES[path.suffix.lower()]


# -- the manifest file ------------------------------------------------------------------------


def read_manifest(path: Path) -> dict[str, Entry]:
    """The manifest's entries; ``ConfigError`` naming the file, line and key of a problem."""
    if not path.is_file():
        return {}
    try:
        document = load(path.read_text(encoding="utf-8"), str(path))
    except YamlError as exc:
        raise ConfigError(str(exc)) from exc
    data = document.data or {}
    recordings = data.get("recordings") if isinstance(data, dict) else None
    if not isinstance(recordings, dict):
        raise ConfigError(f"{path}: expected a mapping 'recordings: {{<file>: {{text, sha256}}}}'")
    entries: dict[str, Entry] = {}
    for rel, item in recordings.items():
        if not isinstance(item, dict) or not {"text", "sha256"} <= set(item):
            key = f"recordings.{rel}"
            line = document.lines.line_of(key)
            where = f"{path}:{line}" if line is not None else str(path)
            raise ConfigError(f"{where}: {key}: expected keys text, sha256 (and voice)")
        entries[str(rel)] = Entry(
            str(item["text"]),
            str(item["sha256"]),
            str(item.get("voice", "")),
            str(item.get("file_sha256", "")),
        )
    return entries


def write_manifest(path: Path, entries: Mapping[str, Entry]) -> None:
    body: dict[str, Any] = {
        "recordings": {
            rel: {"text": e.text, "sha256": e.sha256, "voice": e.voice}
            | ({"file_sha256": e.file_sha256} if e.file_sha256 else {})
            for rel, e in sorted(entries.items())
        }
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(body, allow_unicode=True, sort_keys=False, width=1000)
    path.write_text(_HEADER + text, encoding="utf-8")
