"""Speech to intent: which menu option a spoken answer means, in Mandarin (zh-CN) and English.

Owns turning Twilio's ``SpeechResult`` text into a menu key: ``match`` against a menu's
``Choice`` list, ``yes_no`` for yes/no questions, ``spoken_key`` for a key said aloud ("press
two", "第三个"), ``clean``/``normalise`` for the text they compare, and ``hints`` for the
``<Gather hints>`` that bias the recogniser towards a menu's words.

The words it knows besides a menu's own (keys said aloud, fillers, stopwords, stemming
exceptions, how yes and no are said) are data: ``words/zh-CN.yaml`` and ``words/en-US.yaml``
beside this module, shipped with the package, read once (``mandarin()``, ``english()``).

Pure: the standard library (``difflib``, ``unicodedata``, ``re``), ``ivr.yamlstrict`` (to read
the word lists) and ``ivr.voice.languages`` (which rule set a language's speech is matched by),
no Flask or twilio. It knows nothing of flows, sessions or where a key leads:
the engine builds ``Choice`` values from a menu's options (label and ``synonyms`` in the caller's
language) and treats a ``Match`` that is not ``clear`` as a no-match. Deterministic: the same
utterance and choices always give the same ``Match``. The index built from a menu's choices is
cached, so a menu pays for it once.

Text is normalised the same way on both sides before comparing: full-width to half-width, lower
case, punctuation removed (Chinese 。，？！ and the "." Twilio ends speech with), spaces collapsed.
Mandarin then loses fillers (我的, 那个, 请问, 就是, 嗯, 了, 吧, 一下, 帮我,
想, 要, 怎么, 为什么...) except inside words that need them (了解, 需要, 不要),
and a few spellings are made one (账号 → 账户, 别人/他人 → 有人, 登陆 → 登录).
English loses stopwords (I, my, the, please, um...), is stemmed (failed/fails/failing → fail,
payments → pay, topped → top, frozen → freez), and every negation (can't, didn't, never)
becomes "not".

Each label and synonym of a choice is scored against the utterance; the best one is the
choice's score:

- ``EXACT_SCORE``: the whole utterance is that label or synonym.
- ``CONTAINS_SCORE`` + up to 0.2 for how much of the utterance it covers: the synonym was said
  inside a sentence ("我的充值还没到账" holds "充值"; "my payment failed" holds "pay fail").
  One that lies inside a longer synonym of another choice said at the same place counts only
  ``SHADOWED_SCORE``: in "账号被别人登了", "别人登录" (stolen) outranks "登录" (login).
- ``GAPPED_SCORE`` less ``GAP_PENALTY`` per word in between: the synonym's parts were said in
  order with a few words inserted (付款**老是**失败; "payment **keeps** failing"); in Mandarin
  only for synonyms of three characters or more.
- ``PART_SCORE`` at most: the utterance is part of a synonym ("冻结" for "账户冻结").
- Otherwise a fuzzy score of at most ``FUZZY_CEILING``: the share of the synonym's character
  bigrams (zh) or words (en) the utterance contains, weighted so that what several choices share
  ("账户", "account") counts little, blended with their Dice overlap and ``difflib`` ratio.

A key said aloud that one of the choices has wins outright. ``CLEAR_SCORE`` and
``CLEAR_MARGIN`` decide whether a result is acted on.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from functools import lru_cache
from importlib import resources
from typing import Any

from ivr import yamlstrict
from ivr.voice.languages import CODES
from ivr.voice.languages import Rules
from ivr.voice.languages import language

# The two rule sets of matching, named by the language each was written for.
ZH = "zh-CN"
EN = "en-US"
_RULE_SETS: dict[Rules, str] = {"zh": ZH, "en": EN}

EXACT_SCORE = 1.0
CONTAINS_SCORE = 0.8
GAPPED_SCORE = 0.75
GAP_PENALTY = 0.05
PART_SCORE = 0.7
FUZZY_CEILING = 0.75
SHADOWED_SCORE = 0.4
MAX_GAP = {ZH: 3, EN: 2}
"""At most this many characters (zh) or words (en) inserted into a synonym still count as
saying it: 付款老是失败 for 付款失败, not 付款的时候说交易异常."""

CLEAR_SCORE = 0.5
"""A match is acted on only at or above this score. Every synonym said whole (≥ 0.8) or with a
word or two inserted (≥ 0.6) passes; a fuzzy match (≤ 0.75) passes only when most of a
synonym's distinctive part was said. Unrelated sentences ("怎么绑定银行卡", "I'd like a credit
card") score up to about 0.4 on stray shared words: lower this and they start being routed;
raise it and only literal synonyms are understood."""

CLEAR_MARGIN = 0.1
"""...and only if it beats the runner-up choice by at least this much: a caller who names two
problems at once ("付款失败了还要退款") is asked again rather than routed by a coin toss."""

MAX_HEARD = 60
"""Only the first this-many characters of an utterance are scored. An answer to a menu is a
phrase, not a speech, and scoring time grows with the length."""

MAX_HINTS = 100
"""At most this many phrases in a ``<Gather hints>``: more dilutes the bias they give."""

_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
_SPACE_BY_CJK = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")
_SPACES = re.compile(r"\s+")
_APOSTROPHES = frozenset("'’‘`")
_VOWELS = frozenset("aeiouy")


@dataclass(frozen=True)
class Choice:
    """What a menu option can be called in one language: its key, its label(s) as announced,
    and the other words callers use for it (the option's ``synonyms`` in that language)."""

    key: str
    labels: tuple[str, ...]
    synonyms: tuple[str, ...] = ()
    examples: tuple[
        str, ...
    ] = ()  # whole phrases: the trained matcher learns them, rules ignore them


@dataclass(frozen=True)
class Match:
    """The best choice for an utterance and the score of the next best. ``key`` is None when
    nothing scored at all; ``heard`` is the utterance as ``clean`` left it. Act only on a
    ``clear`` match; anything else is a no-match."""

    key: str | None
    score: float
    runner_up: float
    heard: str
    route_at: float = CLEAR_SCORE  # the trained matcher brings its own (cross-validated)
    margin: float = CLEAR_MARGIN

    @property
    def clear(self) -> bool:
        return (
            self.key is not None
            and self.score >= self.route_at
            and round(self.score - self.runner_up, 4) >= self.margin  # 0.5 - 0.4 < 0.1 in floats
        )


# ----------------------------------------------------------------------------- word lists

WORDS = "words"
"""The folder of this package holding one word file per language (``zh-CN.yaml``...)."""

# The answers a yes/no phrase can give: yes and no are keys 1 and 2; unsure is neither; an
# ignored phrase only hides the shorter ones inside it (还是 hides 是).
_YES, _NO, _UNSURE, _IGNORE = "1", "2", None, ""
_YES_NO_KEYS = {"yes": _YES, "no": _NO, "unsure": _UNSURE, "ignore": _IGNORE}

Lexicon = dict[str | None, tuple[str, ...]]


@dataclass(frozen=True)
class MandarinWords:
    """``words/zh-CN.yaml``, ready to use: key words, spoken-key patterns, fillers, yes/no."""

    key_words: dict[str, str]
    key: re.Pattern[str]  # a digit said with the words around it: 我要按第三个吧
    key_symbol: re.Pattern[str]  # 星号, 按井号键
    fillers: re.Pattern[str]
    keep: re.Pattern[str]  # splits out the words a filler is part of
    same_word: tuple[tuple[str, str], ...]
    yes_no: Lexicon
    yes_alone: frozenset[str]
    no_alone: frozenset[str]
    hesitation: re.Pattern[str]
    yes_negations: frozenset[str]


@dataclass(frozen=True)
class EnglishWords:
    """``words/en-US.yaml``, ready to use: key words, stopwords, stemming, yes/no."""

    key_words: dict[str, str]
    ordinals: frozenset[str]
    homophones: dict[str, str]
    key_lead: frozenset[str]
    key_filler: frozenset[str]  # the lead words and the other words said around a key
    stopwords: frozenset[str]
    negations: frozenset[str]
    irregular: dict[str, str]
    yes_no: Lexicon
    yes_alone: frozenset[str]
    no_alone: frozenset[str]
    hesitation: frozenset[str]
    yes_negations: frozenset[str]


class WordFile:
    """One parsed word file; each reader names the file and key of anything malformed (a bare
    ``no`` that YAML read as false, a missing list, a key word of two characters)."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.data: Any = yamlstrict.load(text, name).data

    @classmethod
    def shipped(cls, lang: str) -> WordFile:
        """The package's own word file for ``lang``."""
        name = f"{WORDS}/{lang}.yaml"
        return cls(name, resources.files("ivr.voice").joinpath(name).read_text("utf-8"))

    def _at(self, path: str) -> Any:
        value = self.data
        for key in path.split("."):
            if not isinstance(value, dict) or key not in value:
                raise ValueError(f"{self.name}: {path}: missing")
            value = value[key]
        return value

    def words(self, path: str) -> tuple[str, ...]:
        return self._words(self._at(path), path)

    def groups(self, path: str) -> tuple[tuple[str, ...], ...]:
        value = self._at(path)
        if not isinstance(value, list):
            raise ValueError(f"{self.name}: {path}: expected a list of lists of words")
        return tuple(self._words(group, f"{path}[{i}]") for i, group in enumerate(value))

    def _words(self, value: Any, path: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(w, str) and w for w in value):
            raise ValueError(f"{self.name}: {path}: expected a list of words (quote yes/no/on)")
        return tuple(value)

    def characters(self, path: str) -> tuple[str, ...]:
        """Words of one character each (they go into a regular expression's ``[...]``)."""
        found = self.words(path)
        if not all(len(w) == 1 and w not in "]^-\\" for w in found):
            raise ValueError(f"{self.name}: {path}: expected single characters")
        return found

    def mapping(self, path: str) -> dict[str, str]:
        value = self._at(path)
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ValueError(f"{self.name}: {path}: expected words mapped to words (quote keys)")
        return dict(value)

    def lexicon(self) -> Lexicon:
        return {answer: self.words(f"yes_no.{name}") for name, answer in _YES_NO_KEYS.items()}


def _any_of(words: Sequence[str]) -> str:
    return "|".join(map(re.escape, words))


def _optional(groups: Sequence[Sequence[str]]) -> str:
    """Each group of words at most once, in order: ``(?:我)?(?:要|想)?``."""
    return "".join(f"(?:{_any_of(group)})?" for group in groups)


@cache
def mandarin() -> MandarinWords:
    """The Mandarin word lists, read once."""
    return mandarin_words(WordFile.shipped(ZH))


@cache
def english() -> EnglishWords:
    """The English word lists, read once."""
    return english_words(WordFile.shipped(EN))


def mandarin_words(f: WordFile) -> MandarinWords:
    key_words = f.mapping("spoken_keys.words")
    if not all(len(w) == 1 for w in key_words):
        raise ValueError(f"{f.name}: spoken_keys.words: expected single characters")
    digits = "".join(w for w, key in key_words.items() if key.isdigit())
    symbols = "".join(w for w, key in key_words.items() if not key.isdigit())
    before, after = f.groups("spoken_keys.before"), f.groups("spoken_keys.after")
    symbol_before = f.groups("spoken_keys.symbol_before")
    symbol_after = f.words("spoken_keys.symbol_after")
    keep = f.words("keep")
    return MandarinWords(
        key_words=key_words,
        key=re.compile(f"{_optional(before)}([0-9{digits}]){_optional(after)}"),
        key_symbol=re.compile(
            f"{_optional(symbol_before)}([{symbols}])(?:{_any_of(symbol_after)})"
        ),
        fillers=re.compile(_any_of(f.words("fillers"))),
        keep=re.compile(f"({_any_of(keep)})"),
        same_word=tuple(f.mapping("same_word").items()),
        yes_no=f.lexicon(),
        yes_alone=frozenset(f.words("yes_no.yes_alone")),
        no_alone=frozenset(f.words("yes_no.no_alone")),
        hesitation=re.compile(f"[{''.join(f.characters('yes_no.hesitation'))}]"),
        yes_negations=frozenset(f.characters("yes_no.negations")),
    )


def english_words(f: WordFile) -> EnglishWords:
    lead = frozenset(f.words("spoken_keys.lead"))
    return EnglishWords(
        key_words=f.mapping("spoken_keys.words"),
        ordinals=frozenset(f.words("spoken_keys.ordinals")),
        homophones=f.mapping("spoken_keys.homophones"),
        key_lead=lead,
        key_filler=lead | frozenset(f.words("spoken_keys.filler")),
        stopwords=frozenset(f.words("stopwords")),
        negations=frozenset(f.words("negations")),
        irregular=f.mapping("irregular"),
        yes_no=f.lexicon(),
        yes_alone=frozenset(f.words("yes_no.yes_alone")),
        no_alone=frozenset(f.words("yes_no.no_alone")),
        hesitation=frozenset(f.words("yes_no.hesitation")),
        yes_negations=frozenset(f.words("yes_no.negations")),
    )


# ----------------------------------------------------------------------------- normalising


def rule_set(lang: str) -> str:
    """The rule set (``ZH`` or ``EN``) that speech in ``lang`` is matched by."""
    return _language(lang)


def _language(lang: str) -> str:
    """The rule set speech in ``lang`` is matched by (ZH or EN); ``lang`` may be any name of a
    supported language, Twilio's included (``cmn-Hans-CN``, ``en-GB``)."""
    try:
        rules = language(lang).rules
    except ValueError:
        raise ValueError(
            f"no speech matching for language {lang!r}; known: {', '.join(CODES)}"
        ) from None
    return _RULE_SETS[rules]


def clean(text: str, lang: str) -> str:
    """Width, case, punctuation and spaces normalised, every word kept: "我的充值，还没到账。"
    → "我的充值还没到账", "Yes, it's ＯＫ." → "yes its ok"."""
    chars = []
    for ch in unicodedata.normalize("NFKC", text).lower():
        if ch in _APOSTROPHES:  # "isn't" → "isnt": one word
            continue
        chars.append(" " if unicodedata.category(ch)[0] in "PSZC" else ch)
    text = _SPACES.sub(" ", "".join(chars)).strip()
    if _language(lang) == ZH:
        text = _SPACE_BY_CJK.sub("", text)
    return text


def _strip_fillers_zh(text: str) -> str:
    zh = mandarin()
    for variant, canonical in zh.same_word:
        text = text.replace(variant, canonical)
    parts = zh.keep.split(text)
    # re.split with a group: the odd items are the kept words themselves.
    return "".join(p if i % 2 else zh.fillers.sub("", p) for i, p in enumerate(parts))


def _stem(word: str, en: EnglishWords) -> str:
    if word in en.irregular:  # then stemmed as usual, so "frozen" meets "freeze"
        return " ".join(_stem_regular(w) for w in en.irregular[word].split())
    if word in en.negations:
        return "not"
    return _stem_regular(word)


def _stem_regular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            word = word[: -len(suffix)]
            # topped → topp → top, but not call → cal
            if word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]
            break
    if len(word) > 4 and word.endswith("e") and word[-2] not in _VOWELS:
        word = word[:-1]
    return word


def normalise(text: str, lang: str) -> str:
    """The text ``match`` compares: ``clean``, then fillers dropped (zh) or stopwords dropped and
    words stemmed (en): "我的充值，还没到账。" → "充值还没到账", "My payments FAILED." → "pay
    fail"."""
    text = clean(text, lang)
    if _language(lang) == ZH:
        return _strip_fillers_zh(text)
    en = english()
    return " ".join(_stem(w, en) for w in text.split() if w not in en.stopwords)


# ----------------------------------------------------------------------------- spoken keys


def spoken_key(utterance: str, lang: str) -> str | None:
    """The phone key said aloud, if that is all the caller said: "press two", "option 3", "the
    second one", "2", "二", "按三", "第三个", "选项5", "星号". Any key, offered or not, so the
    engine can also honour 0 (agent), 9 (repeat) and * (back) said aloud."""
    text = clean(utterance, lang)
    if _language(lang) == ZH:
        zh = mandarin()
        compact = text.replace(" ", "")
        found = zh.key.fullmatch(compact) or zh.key_symbol.fullmatch(compact)
        if found is None:
            return None
        word = found.group(1)
        return word if word.isdigit() else zh.key_words[word]
    en = english()
    words = text.split()
    rest = [w for w in words if w not in en.key_filler]
    if len(rest) == 2 and rest[0] in en.ordinals and rest[1] == "one":  # "the second one"
        rest = rest[:1]
    if len(rest) != 1:
        return None
    word = rest[0]
    if len(word) == 1 and word.isdigit():
        return word
    if word in en.homophones and any(w in en.key_lead for w in words):
        return en.homophones[word]
    return en.key_words.get(word)


# ----------------------------------------------------------------------------- matching

Span = tuple[int, int]


@dataclass(frozen=True)
class _Entry:
    """One label or synonym, normalised."""

    text: str
    units: tuple[str, ...]  # zh: character bigrams; en: words
    weight: float  # the summed weights of its distinct units


@dataclass(frozen=True)
class _Index:
    entries: tuple[tuple[_Entry, ...], ...]  # per choice
    weights: dict[str, float]


def _units(text: str, lang: str) -> tuple[str, ...]:
    if lang == EN:
        return tuple(text.split())
    if len(text) < 2:
        return (text,) if text else ()
    return tuple(text[i : i + 2] for i in range(len(text) - 1))


@lru_cache(maxsize=256)
def _index(choices: tuple[Choice, ...], lang: str) -> _Index:
    texts = [
        [t for t in dict.fromkeys(normalise(x, lang) for x in c.labels + c.synonyms) if t]
        for c in choices
    ]
    # What many choices of this menu share tells little about which one is meant.
    counts: dict[str, int] = {}
    for choice_texts in texts:
        for unit in {u for t in choice_texts for u in _units(t, lang)}:
            counts[unit] = counts.get(unit, 0) + 1
    weights = {u: math.log((len(choices) + 1) / n) for u, n in counts.items()}
    entries = tuple(
        tuple(
            _Entry(t, _units(t, lang), sum(weights[u] for u in set(_units(t, lang))))
            for t in choice_texts
        )
        for choice_texts in texts
    )
    return _Index(entries, weights)


def _occurrences(name: Sequence[str], said: Sequence[str]) -> list[Span]:
    size = len(name)
    return [(i, i + size) for i in range(len(said) - size + 1) if said[i : i + size] == name]


def _gaps(name: Sequence[str], said: Sequence[str], most: int) -> int | None:
    """The fewest units inserted between the parts of ``name`` said in order, if at most
    ``most``: "付款失败" in "付款老是失败" has 2; "pay fail" in "pay keep fail" has 1."""
    best: int | None = None
    for first in range(len(said) - len(name) + 1):
        if said[first] != name[0]:
            continue
        at = first
        for part in name[1:]:
            at += 1
            while at < len(said) and said[at] != part:
                at += 1
            if at == len(said):
                return best  # a later start cannot complete either
        gaps = at - first + 1 - len(name)
        if gaps <= most and (best is None or gaps < best):
            best = gaps
    return best


def _score(
    entry: _Entry, heard: str, units: tuple[str, ...], lang: str, weights: dict[str, float]
) -> tuple[float, list[Span]]:
    """How well one label or synonym fits the normalised utterance, and where it was said whole
    (in characters for zh, words for en), if it was."""
    said: Sequence[str] = heard if lang == ZH else units
    name: Sequence[str] = entry.text if lang == ZH else entry.units
    if entry.text == heard:
        return EXACT_SCORE, [(0, len(said))]
    spans = _occurrences(name, said)
    if spans:
        return CONTAINS_SCORE + 0.2 * len(name) / len(said), spans
    # Two characters with others between them are mostly a coincidence (进不去账 is not 进账);
    # two words are not.
    if len(name) >= (3 if lang == ZH else 2):
        gaps = _gaps(name, said, MAX_GAP[lang])
        if gaps is not None:
            return GAPPED_SCORE - GAP_PENALTY * gaps, []
    if len(said) >= 2 and _occurrences(said, name):
        covered = sum(weights.get(u, 0.0) for u in set(units))
        return PART_SCORE * min(1.0, covered / entry.weight), []
    shared = set(entry.units) & set(units)
    if not shared:
        return 0.0, []
    containment = sum(weights[u] for u in shared) / entry.weight
    dice = 2 * len(shared) / (len(set(entry.units)) + len(set(units)))
    ratio = difflib.SequenceMatcher(None, entry.text, heard, autojunk=False).ratio()
    return FUZZY_CEILING * (0.6 * containment + 0.2 * dice + 0.2 * ratio), []


def _inside(span: Span, others: list[Span]) -> bool:
    return any(o[0] <= span[0] and span[1] <= o[1] and o != span for o in others)


def match(utterance: str, choices: Sequence[Choice], lang: str) -> Match:
    """The choice the caller most likely meant, with its score and the runner-up's score (see
    the module docstring). Act on it only if ``Match.clear``."""
    lang = _language(lang)
    heard = clean(utterance, lang)
    said_key = spoken_key(utterance, lang)
    if said_key is not None and any(c.key == said_key for c in choices):
        return Match(said_key, EXACT_SCORE, 0.0, heard)
    text = normalise(utterance[: MAX_HEARD * 2], lang)[:MAX_HEARD]
    units = _units(text, lang)
    if not units:
        return Match(None, 0.0, 0.0, heard)
    index = _index(tuple(choices), lang)
    results = [[_score(e, text, units, lang, index.weights) for e in es] for es in index.entries]
    spans = [[span for _, hits in result for span in hits] for result in results]
    scores = []
    for i, result in enumerate(results):
        others = [span for j, hits in enumerate(spans) if j != i for span in hits]
        scores.append(
            max(
                (
                    SHADOWED_SCORE if hits and all(_inside(h, others) for h in hits) else score
                    for score, hits in result
                ),
                default=0.0,
            )
        )
    ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    if not ranked or scores[ranked[0]] == 0.0:
        return Match(None, 0.0, 0.0, heard)
    runner_up = scores[ranked[1]] if len(ranked) > 1 else 0.0
    return Match(choices[ranked[0]].key, round(scores[ranked[0]], 4), round(runner_up, 4), heard)


# ----------------------------------------------------------------------------- yes / no


def _phrases_said(
    said: Sequence[str], lexicon: Lexicon, zh: bool
) -> list[tuple[int, int, str | None]]:
    """The phrases of ``lexicon`` said, as (start, end, answer): longest first, none
    overlapping, so in "没有解决" only 没有解决 counts, not 没有 or 没."""
    found: list[tuple[int, int, str | None]] = []
    for answer, phrases in lexicon.items():
        for phrase in phrases:
            parts: Sequence[str] = phrase if zh else tuple(phrase.split())
            found.extend((s, e, answer) for s, e in _occurrences(parts, said))
    found.sort(key=lambda f: (f[0] - f[1], f[0]))
    taken: list[tuple[int, int, str | None]] = []
    for start, end, answer in found:
        if all(end <= s or start >= e for s, e, _ in taken):
            taken.append((start, end, answer))
    return taken


def yes_no(utterance: str, lang: str) -> Match:
    """Yes (key "1") or no (key "2"): "是的", "解决了", "yes it did" / "没有解决", "不用了",
    "not really". The longest phrase said decides; a phrase of the other answer elsewhere in the
    sentence ("是的，没解决") is the runner-up, so such an answer is not clear. "不知道", "not
    sure" are neither (key None). A key said aloud ("press one", "二") is that key."""
    lang = _language(lang)
    heard = clean(utterance, lang)
    said_key = spoken_key(utterance, lang)
    if said_key in (_YES, _NO):
        return Match(said_key, EXACT_SCORE, 0.0, heard)
    said: Sequence[str]
    words: MandarinWords | EnglishWords
    if lang == ZH:
        words = zh = mandarin()
        said = zh.hesitation.sub("", heard.replace(" ", ""))
    else:
        words = en = english()
        said = tuple(w for w in heard.split() if w not in en.hesitation)
    if heard in words.yes_alone:
        return Match(_YES, EXACT_SCORE, 0.0, heard)
    if heard in words.no_alone:
        return Match(_NO, EXACT_SCORE, 0.0, heard)
    found = _phrases_said(said, words.yes_no, zh=lang == ZH)
    # A yes right after a negation is a no: 没弄好, "not working".
    found = [
        (s, e, _NO if a == _YES and s > 0 and said[s - 1] in words.yes_negations else a)
        for s, e, a in found
    ]
    answers = [f for f in found if f[2] != _IGNORE]
    if not answers:
        return Match(None, 0.0, 0.0, heard)
    if any(a is _UNSURE for _, _, a in answers):  # a hedge anywhere: asked again
        return Match(None, 0.0, 0.0, heard)

    def score(start: int, end: int) -> float:
        return round(CONTAINS_SCORE + 0.2 * (end - start) / len(said), 4)

    start, end, answer = answers[0]
    runner_up = max((score(s, e) for s, e, a in answers if a != answer), default=0.0)
    if answer is _UNSURE:
        return Match(None, 0.0, runner_up, heard)
    return Match(answer, score(start, end), runner_up, heard)


# ----------------------------------------------------------------------------- hints


def hints(choices: Sequence[Choice]) -> str:
    """The ``hints`` of a speech ``<Gather>``: the choices' labels and synonyms in order, commas
    removed (they separate hints), without duplicates (ignoring case) or single characters (no
    help to a recogniser), at most ``MAX_HINTS`` of them, joined by ", "."""
    seen: dict[str, str] = {}
    for choice in choices:
        for phrase in choice.labels + choice.synonyms:
            text = _SPACES.sub(" ", phrase.replace(",", " ").replace("，", " ")).strip()
            if len(text) > 1 and text.casefold() not in seen and len(seen) < MAX_HINTS:
                seen[text.casefold()] = text
    return ", ".join(seen.values())
