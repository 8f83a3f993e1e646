"""Speech to intent: which menu option a spoken answer means, in Mandarin (zh-CN) and English.

Owns turning Twilio's ``SpeechResult`` text into a menu key: ``match`` against a menu's
``Choice`` list, ``yes_no`` for yes/no questions, ``spoken_key`` for a key said aloud ("press
two", "第三个"), ``clean``/``normalise`` for the text they compare, and ``hints`` for the
``<Gather hints>`` that bias the recogniser towards a menu's words.

Pure: the standard library only (``difflib``, ``unicodedata``, ``re``) and
``ivr.voice.languages`` (which rule set a language's speech is matched by), no Flask or
twilio. It knows nothing of flows, sessions or where a key leads: the engine builds ``Choice``
values from a menu's options (label and ``synonyms`` in the caller's language) and treats a
``Match`` that is not ``clear`` as a no-match. Deterministic: the same utterance and choices
always give the same ``Match``. The index built from a menu's choices is cached, so a menu pays
for it once.

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
from functools import lru_cache

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

_KEY_WORDS_EN = {
    "zero": "0",
    "one": "1",
    "first": "1",
    "two": "2",
    "second": "2",
    "three": "3",
    "third": "3",
    "four": "4",
    "fourth": "4",
    "five": "5",
    "fifth": "5",
    "six": "6",
    "sixth": "6",
    "seven": "7",
    "seventh": "7",
    "eight": "8",
    "eighth": "8",
    "nine": "9",
    "ninth": "9",
    "star": "*",
    "pound": "#",
    "hash": "#",
}
_ORDINALS_EN = frozenset({"first", "second", "third", "fourth", "fifth", "sixth", "seventh"})
_ORDINALS_EN |= {"eighth", "ninth"}
# What the recogniser writes for a digit after "press": "press to", "option for".
_KEY_HOMOPHONES_EN = {"to": "2", "too": "2", "for": "4", "won": "1", "ate": "8"}
_KEY_LEAD_EN = frozenset({"press", "option", "number", "key", "choice", "select", "pick", "choose"})
_KEY_FILLER_EN = _KEY_LEAD_EN | frozenset(
    "the please i ill id take go with want like dial hit push button let me lets um uh okay ok "
    "its is".split()
)
_KEY_WORDS_ZH = {
    "零": "0",
    "〇": "0",
    "一": "1",
    "幺": "1",
    "二": "2",
    "两": "2",
    "三": "3",
    "四": "4",
    "五": "5",
    "六": "6",
    "七": "7",
    "八": "8",
    "九": "9",
    "星": "*",
    "井": "#",
}
_KEY_ZH = re.compile(
    r"(?:我)?(?:要|想)?(?:按|选|选择|拨|按键|选项|数字)?(?:第)?"
    r"([0-9零〇一幺二两三四五六七八九])"
    r"(?:号键|号|个|项|键|个选项)?(?:吧|啊|呢|谢谢)?"
)
_KEY_ZH_SYMBOL = re.compile(r"(?:按)?([星井])(?:号键|号|键)")

# Mandarin words that say nothing about the problem. Longest first, so 我的 goes before 我.
_ZH_FILLERS = (
    "为什么",
    "请问",
    "就是",
    "那个",
    "这个",
    "一下",
    "帮我",
    "我们",
    "我的",
    "你们",
    "您好",
    "你好",
    "麻烦",
    "怎么",
    "想要",
    "我",
    "想",
    "要",
    "喂",
    "嗯",
    "啊",
    "呃",
    "哦",
    "呀",
    "吧",
    "呢",
    "啦",
    "嘛",
    "呗",
    "哈",
    "了",
    "的",
)
# Words a filler character is part of: kept whole.
_ZH_KEEP = ("了解", "需要", "重要", "主要", "要求", "不要", "只要")
# Spellings of one word, made one: 帐 is a common variant of 账; callers say 账号 and 账户 for
# the same account and 别人/他人/有人 for "someone"; recognisers often write 登陆 for 登录.
_ZH_CANONICAL = (
    ("帐", "账"),
    ("账号", "账户"),
    ("别人", "有人"),
    ("他人", "有人"),
    ("登陆", "登录"),
)
_ZH_FILLER_RE = re.compile("|".join(map(re.escape, _ZH_FILLERS)))
_ZH_KEEP_RE = re.compile("(" + "|".join(map(re.escape, _ZH_KEEP)) + ")")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
_SPACE_BY_CJK = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")
_SPACES = re.compile(r"\s+")
_APOSTROPHES = frozenset("'’‘`")

_EN_STOPWORDS = frozenset(
    "i im ive id ill me my mine myself a an the to is am are was were be been being it its "
    "this that thats these those of for on at by from with about and or but so just please "
    "um uh er erm hmm oh hi hello hey well you your youre we our us do does did have has had "
    "can could would should will shall may might want need wanna like there theres some any "
    "what whats why how when where which who get got getting help thank thanks yeah ok okay "
    "really still again now also very".split()
)
_EN_NEGATIONS = frozenset(
    "not no never cant cannot dont doesnt didnt isnt wasnt arent werent hasnt havent hadnt "
    "wont wouldnt couldnt shouldnt aint".split()
)
_EN_IRREGULAR = {
    "frozen": "freeze",
    "froze": "freeze",
    "freezed": "freeze",
    "stolen": "steal",
    "stole": "steal",
    "paid": "pay",
    "payment": "pay",
    "payments": "pay",
    "forgot": "forget",
    "forgotten": "forget",
    "withdrawal": "withdraw",
    "withdrawals": "withdraw",
    "withdrew": "withdraw",
    "withdrawn": "withdraw",
    "used": "use",
    "using": "use",
    "lost": "lose",
    "sent": "send",
    "made": "make",
    "took": "take",
    "shown": "show",
    "somebody": "someone",
    "into": "in",
    "login": "log in",
    "logon": "log in",
    "signin": "sign in",
    "topup": "top up",
    "topups": "top up",
    "recognise": "recognize",
    "unauthorised": "not authorized",
    "unauthorized": "not authorized",
}
_VOWELS = frozenset("aeiouy")


@dataclass(frozen=True)
class Choice:
    """What a menu option can be called in one language: its key, its label(s) as announced,
    and the other words callers use for it (the option's ``synonyms`` in that language)."""

    key: str
    labels: tuple[str, ...]
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Match:
    """The best choice for an utterance and the score of the next best. ``key`` is None when
    nothing scored at all; ``heard`` is the utterance as ``clean`` left it. Act only on a
    ``clear`` match; anything else is a no-match."""

    key: str | None
    score: float
    runner_up: float
    heard: str

    @property
    def clear(self) -> bool:
        return (
            self.key is not None
            and self.score >= CLEAR_SCORE
            and round(self.score - self.runner_up, 4) >= CLEAR_MARGIN  # 0.5 - 0.4 < 0.1 in floats
        )


# ----------------------------------------------------------------------------- normalising


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
    for variant, canonical in _ZH_CANONICAL:
        text = text.replace(variant, canonical)
    parts = _ZH_KEEP_RE.split(text)
    # re.split with a group: the odd items are the kept words themselves.
    return "".join(p if i % 2 else _ZH_FILLER_RE.sub("", p) for i, p in enumerate(parts))


def _stem(word: str) -> str:
    if word in _EN_IRREGULAR:  # then stemmed as usual, so "frozen" meets "freeze"
        return " ".join(_stem_regular(w) for w in _EN_IRREGULAR[word].split())
    if word in _EN_NEGATIONS:
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
    return " ".join(_stem(w) for w in text.split() if w not in _EN_STOPWORDS)


# ----------------------------------------------------------------------------- spoken keys


def spoken_key(utterance: str, lang: str) -> str | None:
    """The phone key said aloud, if that is all the caller said: "press two", "option 3", "the
    second one", "2", "二", "按三", "第三个", "选项5", "星号". Any key, offered or not, so the
    engine can also honour 0 (agent), 9 (repeat) and * (back) said aloud."""
    text = clean(utterance, lang)
    if _language(lang) == ZH:
        compact = text.replace(" ", "")
        found = _KEY_ZH.fullmatch(compact) or _KEY_ZH_SYMBOL.fullmatch(compact)
        if found is None:
            return None
        word = found.group(1)
        return word if word.isdigit() else _KEY_WORDS_ZH[word]
    words = text.split()
    rest = [w for w in words if w not in _KEY_FILLER_EN]
    if len(rest) == 2 and rest[0] in _ORDINALS_EN and rest[1] == "one":  # "the second one"
        rest = rest[:1]
    if len(rest) != 1:
        return None
    word = rest[0]
    if len(word) == 1 and word.isdigit():
        return word
    if word in _KEY_HOMOPHONES_EN and any(w in _KEY_LEAD_EN for w in words):
        return _KEY_HOMOPHONES_EN[word]
    return _KEY_WORDS_EN.get(word)


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

_YES, _NO, _UNSURE, _IGNORE = "1", "2", None, ""

# Phrases as ``clean`` leaves them. The longest phrase said wins its place, so 没有解决 (no) beats
# 解决 and 没有, 没问题 (yes) beats 没, 不知道 (unsure) beats 不, and 还是 (ignored) hides 是.
_YES_NO_ZH: dict[str | None, tuple[str, ...]] = {
    _YES: (
        "是",
        "是的",
        "是啊",
        "对",
        "对的",
        "对啊",
        "好",
        "好的",
        "可以",
        "行",
        "确认",
        "确定",
        "没错",
        "没问题",
        "正确",
        "解决",
        "解决了",
        "已解决",
        "已经解决",
        "有用",
        "有帮助",
        "要的",
        "需要",
        "好了",
    ),
    _NO: (
        "不",
        "不是",
        "不对",
        "不行",
        "不好",
        "不太",
        "不太对",
        "没有",
        "没",
        "没解决",
        "没有解决",
        "未解决",
        "不用",
        "不要",
        "不需要",
        "不可以",
        "错了",
        "不正确",
        "没用",
        "没有用",
        "否",
        "还有问题",
    ),
    _UNSURE: ("不知道", "不清楚", "不确定", "不好说", "说不好", "也许", "可能"),
    _IGNORE: (
        "还是",
        "但是",
        "就是",
        "可是",
        "要是",
        "只是",
        "总是",
        "老是",
        "是否",
        "是不是",
        "好像",
        "好多",
        "不好意思",
        "不过",
        "要不",
    ),
}
# Said alone these are a yes; inside a sentence they are hesitation.
_YES_ALONE_ZH = frozenset({"嗯", "嗯嗯", "嗯嗯嗯", "恩", "恩恩"})
_ZH_HESITATION = re.compile("[嗯呃啊哦呀啦嘛呗哈]")

_YES_NO_EN: dict[str | None, tuple[str, ...]] = {
    _YES: (
        "yes",
        "yeah",
        "yep",
        "yup",
        "ya",
        "yea",
        "correct",
        "right",
        "sure",
        "ok",
        "okay",
        "thats right",
        "that is right",
        "thats correct",
        "it did",
        "it is",
        "yes please",
        "absolutely",
        "of course",
        "definitely",
        "affirmative",
        "solved",
        "it worked",
        "no problem",
        "not a problem",
        "please do",
        "go ahead",
    ),
    _NO: (
        "no",
        "nope",
        "nah",
        "not",
        "not really",
        "not at all",
        "not yet",
        "not correct",
        "not right",
        "not solved",
        "wrong",
        "incorrect",
        "negative",
        "thats wrong",
        "it didnt",
        "it did not",
        "didnt help",
        "didnt work",
        "dont",
        "isnt",
        "no thanks",
        "still need help",
    ),
    _UNSURE: ("not sure", "dont know", "maybe", "no idea", "i guess", "not certain"),
    _IGNORE: ("right now", "all right then"),
}
_YES_ALONE_EN = frozenset({"uh huh", "mhm", "mm hmm", "mmhmm"})
_EN_HESITATION = frozenset({"um", "uh", "er", "erm", "hmm", "well"})


def _phrases_said(
    said: Sequence[str], lexicon: dict[str | None, tuple[str, ...]], zh: bool
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
    if lang == ZH:
        if heard in _YES_ALONE_ZH:
            return Match(_YES, EXACT_SCORE, 0.0, heard)
        said = _ZH_HESITATION.sub("", heard.replace(" ", ""))
        found = _phrases_said(said, _YES_NO_ZH, zh=True)
    else:
        if heard in _YES_ALONE_EN:
            return Match(_YES, EXACT_SCORE, 0.0, heard)
        said = tuple(w for w in heard.split() if w not in _EN_HESITATION)
        found = _phrases_said(said, _YES_NO_EN, zh=False)
    answers = [f for f in found if f[2] != _IGNORE]
    if not answers:
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
