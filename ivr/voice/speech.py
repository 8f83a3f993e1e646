"""Words spoken in one language, and how they split into recorded and said parts.

Owns ``Speech`` and ``Part``: the vocabulary shared by ``flow.prompts`` (which names the fixed
parts), the engine (which says things) and the renderer (which plays or says each part).
Plain data: no IO, no imports from the rest of ``ivr``.

A ``Speech`` may say how its words split into ``Part`` s: fixed words that have a prompt id
(``ivr.flow.prompts`` names them; the renderer plays their recording when a current one
exists) and call data that is always said (with the digit groups the renderer wraps in SSML).
Without parts the whole text is said.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    """A stretch of one ``Speech``: fixed words recorded as ``prompt``, or (without a prompt)
    words that are always said. ``text`` keeps its exact spacing, so the parts of a speech
    join into its text. ``digits``: a value read digit by digit, as its groups of spoken text
    (``("1 3 8", "0 0 0 0")``), for SSML ``say-as``."""

    text: str
    prompt: str | None = None
    digits: tuple[str, ...] = ()


@dataclass(frozen=True)
class Speech:
    """Words spoken in one language; ``parts`` (when given) join into ``text``."""

    text: str
    lang: str
    parts: tuple[Part, ...] = ()

    def pieces(self) -> tuple[Part, ...]:
        """The parts, or the whole text as one part to be said."""
        return self.parts or (Part(self.text),)
