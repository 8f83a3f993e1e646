"""Training-time variants of a phrase: how callers and the recogniser say the same thing
differently, so the trained matcher (``ivr.voice.classifier``) learns from each training phrase
written those ways as well.

Owns reading ``words/variants-<lang>.yaml`` (shipped with the package, read once) and making a
phrase's variants from it, deterministically:

- a filler or false start said before the topic ("嗯那个就是…", "um so basically …") and a
  tail said after it ("…怎么办啊", "… can you help me"), for whole phrases (examples and
  out-of-scope sentences alike, so fillers say nothing about the option);
- a menu word as a recogniser may write it (``sounds_like``: 冲值 for 充值, 米码 for 密码,
  "pass word" for "password", "pay meant" for "payment");
- a wallet word said in English inside a Mandarin sentence (``mixed``: account, top up).

Used when a model is trained, never when matching. Pure: the standard library and
``ivr.voice.intents`` (``clean``, ``WordFile``).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from ivr.voice import intents

BEFORE = 2
"""Variants of a whole phrase with something said before it (each a different filler)..."""
AFTER = 1
"""...with something said after it..."""
SWAPS = 4
"""...and at most this many of any phrase with one word as the recogniser or a code-mixing caller
may say it."""


@dataclass(frozen=True)
class Variants:
    """One language's ways of varying a phrase (``words/variants-<lang>.yaml``)."""

    lang: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    swaps: tuple[tuple[str, tuple[str, ...]], ...]  # word → what may be said for it

    def of(self, text: str, *, whole: bool) -> list[str]:
        """``text``'s variants (``text`` itself not among them), the same every time."""
        said = intents.clean(text, self.lang)
        if not said:
            return []
        seed = zlib.crc32(said.encode("utf-8"))
        join = "" if self.lang == intents.ZH else " "
        found: list[str] = []
        if whole and self.before:
            found += [_pick(self.before, seed + i) + join + said for i in range(BEFORE)]
        if whole and self.after:
            found += [said + join + _pick(self.after, seed + i) for i in range(AFTER)]
        swapped = [
            swapped
            for word, others in self.swaps
            for other in others
            if (swapped := self._swap(said, word, other)) != said
        ]
        if swapped:
            start = seed % len(swapped)
            found += (swapped[start:] + swapped[:start])[:SWAPS]
        return list(dict.fromkeys(v for v in found if v != said))

    def _swap(self, said: str, word: str, other: str) -> str:
        if self.lang == intents.ZH:
            return said.replace(word, other)
        return re.sub(rf"\b{re.escape(word)}\b", other, said)

    def key(self) -> list[Any]:
        """What the variants are made from, for a model's cache key."""
        return [BEFORE, AFTER, SWAPS, self.before, self.after, self.swaps]


def _pick(words: tuple[str, ...], n: int) -> str:
    return words[n % len(words)]


@cache
def shipped(lang: str) -> Variants:
    """The package's variants for ``lang`` (a rule set: ``intents.ZH`` or ``intents.EN``)."""
    name = f"{intents.WORDS}/variants-{lang}.yaml"
    return read(name, resources.files("ivr.voice").joinpath(name).read_text("utf-8"), lang)


def read(name: str, text: str, lang: str) -> Variants:
    """A variants file, every entry checked."""
    f = intents.WordFile(name, text)
    swaps: list[tuple[str, tuple[str, ...]]] = []
    for part in ("sounds_like", "mixed"):
        table = f.data.get(part, {}) if isinstance(f.data, dict) else None
        if not isinstance(table, dict):
            raise ValueError(f"{name}: {part}: expected words mapped to lists of words")
        for word in table:
            others = tuple(intents.clean(w, lang) for w in f.words(f"{part}.{word}"))
            swaps.append((intents.clean(str(word), lang), others))
    return Variants(
        lang=lang,
        before=tuple(intents.clean(w, lang) for w in f.words("before")),
        after=tuple(intents.clean(w, lang) for w in f.words("after")),
        swaps=tuple(swaps),
    )
