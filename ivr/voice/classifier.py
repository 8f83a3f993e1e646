"""The trained matcher: a linear model over character n-grams that says which menu option an
utterance means, behind the same ``Match`` as the rule matcher (``ivr.voice.intents``).

Owns training a menu's classifier from its own data (each choice's labels, synonyms and
``examples``, the agent's words and examples, and a "none of these" class), choosing its
route and confirm thresholds by cross-validation on that data, matching with it, and saving it
to / loading it from a cache file keyed by what it was trained on.

Features, per language:

- zh-CN: TF-IDF over character 1–3-grams of the cleaned text (fillers kept: the model weighs
  them), plus TF-IDF over toneless pinyin syllables (1–2-grams; each character's first
  reading), so a recogniser's
  homophone (冲值, 体现, 米码) meets the word it stands for (充值, 提现, 密码); Latin words in a
  sentence (code-mixing: "account被freeze了") are tokens of their own.
- en-US: TF-IDF over the stemmed words (1–2-grams, ``intents.normalise``), character
  3–5-grams of the words run together, so a word the recogniser split ("pass word", "re fund")
  still meets it, and the words as said (1–3-grams, small words kept: "wasn't me", "talk to
  someone" say who did it or who is wanted).

The model is scikit-learn's ``LogisticRegression`` (balanced classes). Once fitted it is
exported to plain data (``Classifier``: each term's IDF and class weights, and the pinyin of
the characters whose sound it knows) and saved as JSON, so matching needs neither scikit-learn
nor pypinyin: a worker loads a few hundred KB and adds a few MB of memory. Training needs both,
the optional extra ``ivr[nlu]``; ``available()`` says whether it is installed, and nothing here
imports them until a model is trained. Nothing is downloaded: both ship their data inside their
wheels.

Each training phrase is also learnt in its variants (``Variants``: fillers and false
starts around it, a menu word as a recogniser may write it, English wallet words in a Mandarin
sentence); in cross-validation a phrase's variants stay in its fold.

Deterministic: the folds and the solver are seeded, so the same data gives the same model and
thresholds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import re
import tempfile
import zlib
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ivr.voice import intents
from ivr.voice.intents import Choice
from ivr.voice.intents import Match

NONE = "none"
"""The class of sentences no choice serves: a match to it is no match (asked again)."""

FORMAT = 5
"""Bumped when features or training change, so older cache files are not used."""

FOLDS = 5
WRONG_ROUTED = 0.02
"""Route from a probability at which, in cross-validation, at most this share of the in-scope
whole phrases is routed to a wrong choice..."""
NONE_ROUTED = 0.25
"""...and at most this share of the out-of-scope sentences (``NONE``) is routed. The flow's
out-of-scope sentences are mostly traps (a menu word inside an unrelated question), each unlike
the others, so their cross-validated rate is pessimistic: a looser cap than the wrong-branch one.
Of the probabilities within both caps, the one where the share of in-scope phrases routed right
less the share of out-of-scope ones routed (Youden's J) is highest (the lowest such)."""
LOWEST_ROUTE = 0.35
LOWEST_CONFIRM = 0.15
"""Confirm ("did you mean …?") from the probability, between this and the route threshold, at
which the most in-scope whole phrases are right within one confirmation in cross-validation (the
highest such one). A confirmed out-of-scope sentence costs a "no", not a wrong route."""
AGREE_PRECISION = 0.9
"""A synonym said whole (the rules) routes, below the route threshold, when the model agrees
with a probability at or above the lowest at which, in cross-validation, the answers that adds
are right at least this share of the time (an out-of-scope sentence routed counting as wrong)
and the caps above still hold."""


def available() -> bool:
    """Whether the optional extra ``ivr[nlu]`` (scikit-learn, pypinyin) is installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("sklearn", "pypinyin"))


# ----------------------------------------------------------------------------- features

Syllable = Callable[[str], "str | None"]


def _zh_units(text: str) -> list[str]:
    """The characters of the cleaned text, a run of Latin letters and digits as one unit."""
    units: list[str] = []
    latin = ""
    for ch in intents.clean(text, intents.ZH):
        if ch.isascii() and ch.isalnum():
            latin += ch
            continue
        if latin:
            units.append(latin)
            latin = ""
        if not ch.isspace():
            units.append(ch)
    if latin:
        units.append(latin)
    return units


def _grams(units: Sequence[str], sizes: Sequence[int], joiner: str) -> list[str]:
    return [joiner.join(units[i : i + n]) for n in sizes for i in range(len(units) - n + 1)]


def features(text: str, lang: str, syllable: Syllable) -> tuple[list[str], ...]:
    """The tokens of each feature set of ``lang`` (see the module docstring). ``syllable``
    gives a character's toneless pinyin, or None for one the model has no use for."""
    if lang == intents.ZH:
        units = _zh_units(text)
        sounds = []
        for unit in units:
            sound = unit if len(unit) > 1 or unit.isascii() else syllable(unit)
            sounds.append(sound or "?")
        return _grams(units, (1, 2, 3), ""), [
            g for g in _grams(sounds, (1, 2), "_") if "?" not in g.split("_")
        ]
    said = intents.clean(text, intents.EN).split()
    words = intents.normalise(text, intents.EN).split()
    return (
        _grams(words, (1, 2), "_"),
        _grams("".join(said), (3, 4, 5), ""),
        _grams(said, (1, 2, 3), "_"),
    )


def _pinyin_table() -> dict[str, str]:
    """Every character pypinyin knows → its first reading, toneless (training only)."""
    from pypinyin import Style
    from pypinyin.pinyin_dict import pinyin_dict
    from pypinyin.style import convert

    table = {}
    for code, readings in pinyin_dict.items():
        first = readings.split(",")[0]
        table[chr(code)] = convert(first, Style.NORMAL, strict=False)
    return table


def _model() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=20.0, class_weight="balanced", max_iter=2000, random_state=0)


def _pipeline(lang: str, syllable: Syllable) -> Any:
    """The scikit-learn pipeline trained (and cross-validated) for ``lang``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion
    from sklearn.pipeline import make_pipeline

    def part(i: int) -> Any:
        return TfidfVectorizer(
            analyzer=lambda text: features(text, lang, syllable)[i],
            sublinear_tf=True,
            lowercase=False,
        )

    parts = range(len(features("", lang, syllable)))
    return make_pipeline(FeatureUnion([(f"part{i}", part(i)) for i in parts]), _model())


# ----------------------------------------------------------------------------- variants

BEFORE = 2
"""Variants of a whole phrase with something said before it (each a different filler)..."""
AFTER = 1
"""...with something said after it..."""
SWAPS = 4
"""...and at most this many of any phrase with one word as the recogniser or a code-mixing caller
may say it."""


@dataclass(frozen=True)
class Variants:
    """One language's ways of varying a phrase (``words/variants-<lang>.yaml``): a filler or
    false start said before the topic and a tail after it, for whole phrases (examples and
    out-of-scope sentences alike, so fillers say nothing about the option); a menu word as a
    recogniser may write it (``sounds_like``: 冲值 for 充值, "pay meant" for "payment"); a
    wallet word said in English inside a Mandarin sentence (``mixed``). Used when a model is
    trained, never when matching."""

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
def shipped_variants(lang: str) -> Variants:
    """The package's variants for ``lang`` (a rule set: ``intents.ZH`` or ``intents.EN``)."""
    name = f"{intents.WORDS}/variants-{lang}.yaml"
    return read_variants(name, resources.files("ivr.voice").joinpath(name).read_text("utf-8"), lang)


def read_variants(name: str, text: str, lang: str) -> Variants:
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


# ----------------------------------------------------------------------------- the matcher


@dataclass(frozen=True)
class TrainingData:
    """What a menu's classifier learns from, in one language: (class, text, whole phrase?) for
    every label, synonym and example of each choice (a class is a choice's key) and every
    out-of-scope sentence (class ``NONE``). Thresholds are scored on whole phrases only:
    single words are not what callers say."""

    lang: str
    texts: tuple[tuple[str, str, bool], ...]
    choices: tuple[Choice, ...] = field(default=(), compare=False)  # for the rules' answers
    vary: bool = True  # also learn from each text's variants (``Variants``)

    @classmethod
    def of(cls, choices: Sequence[Choice], none: Sequence[str], lang: str) -> TrainingData:
        texts: dict[tuple[str, str], bool] = {}
        for c in choices:
            for text in (*c.labels, *c.synonyms):
                texts.setdefault((c.key, text), False)
            for text in c.examples:
                texts[(c.key, text)] = True
        for text in none:
            texts[(NONE, text)] = True
        found = tuple((key, text, whole) for (key, text), whole in texts.items() if text)
        return cls(intents.rule_set(lang), found, tuple(choices))

    def digest(self) -> str:
        """The cache key: what the model is trained on, and how."""
        how = [FORMAT, FOLDS, WRONG_ROUTED, NONE_ROUTED, LOWEST_ROUTE, LOWEST_CONFIRM]
        varied = shipped_variants(self.lang).key() if self.vary else None
        blob = json.dumps(
            [*how, AGREE_PRECISION, self.lang, self.texts, varied], ensure_ascii=False
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]

    def pairs(self, indices: Sequence[int] | None = None) -> tuple[list[str], list[str]]:
        """(texts, classes) of the texts at ``indices`` (all by default), each followed by its
        variants when ``vary``."""
        chosen = range(len(self.texts)) if indices is None else indices
        made = shipped_variants(self.lang) if self.vary else None
        xs, ys = [], []
        for i in chosen:
            key, text, whole = self.texts[i]
            for said in [text, *(made.of(text, whole=whole) if made else ())]:
                xs.append(said)
                ys.append(key)
        return xs, ys


@dataclass(frozen=True)
class Classifier:
    """A trained menu, exported from scikit-learn to plain data: per feature set, each term's
    IDF and class weights; the class intercepts; for Mandarin, the pinyin of the characters
    whose sound the model knows. Matching needs neither scikit-learn nor pypinyin.

    ``match`` gives the likeliest class and its probability. It routes at ``route_at`` or
    above, confirms from ``confirm_at``, and asks again below that or when the likeliest class
    is ``NONE``."""

    lang: str
    classes: tuple[str, ...]
    intercept: tuple[float, ...]
    terms: tuple[Mapping[str, tuple[float, ...]], ...]  # per feature set: term → (idf, *weights)
    sounds: Mapping[str, str]  # character → toneless pinyin (zh)
    route_at: float
    confirm_at: float
    digest: str
    agree_at: float = 1.0  # a whole synonym the model agrees with routes from here (see above)

    def probabilities(self, utterance: str) -> list[float]:
        """The probability of each class (``classes``), as scikit-learn's ``predict_proba``."""
        scores = list(self.intercept)
        found = features(utterance[: intents.MAX_HEARD * 2], self.lang, self.sounds.get)
        for tokens, terms in zip(found, self.terms, strict=True):
            counts: dict[str, int] = {}
            for token in tokens:
                if token in terms:
                    counts[token] = counts.get(token, 0) + 1
            values = {t: (1 + math.log(n)) * terms[t][0] for t, n in counts.items()}
            norm = math.sqrt(sum(v * v for v in values.values()))
            for token, value in values.items():
                weights = terms[token]
                for c in range(len(scores)):
                    scores[c] += value / norm * weights[c + 1]
        if len(self.classes) == 2:  # one weight row: the second class's log-odds
            p = 1 / (1 + math.exp(-scores[0]))
            return [1 - p, p]
        top = max(scores)
        exps = [math.exp(x - top) for x in scores]
        total = sum(exps)
        return [e / total for e in exps]

    def match(self, utterance: str) -> Match:
        heard = intents.clean(utterance, self.lang)
        if not heard:
            return Match(None, 0.0, 0.0, heard)
        probabilities = self.probabilities(utterance)
        ranked = sorted(range(len(self.classes)), key=lambda i: (-probabilities[i], i))
        score = round(probabilities[ranked[0]], 4)
        runner_up = round(probabilities[ranked[1]], 4) if len(ranked) > 1 else 0.0
        key = self.classes[ranked[0]]
        if key == NONE or score < self.confirm_at:
            return Match(None, score, runner_up, heard)
        return Match(key, score, runner_up, heard, route_at=self.route_at, margin=0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "lang": self.lang,
            "classes": list(self.classes),
            "intercept": list(self.intercept),
            "terms": [{t: list(w) for t, w in part.items()} for part in self.terms],
            "sounds": _compact(self.sounds),
            "route_at": self.route_at,
            "confirm_at": self.confirm_at,
            "agree_at": self.agree_at,
            "digest": self.digest,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Classifier:
        if data.get("format") != FORMAT:
            raise ValueError(f"model format {data.get('format')!r}, expected {FORMAT}")
        return cls(
            lang=str(data["lang"]),
            classes=tuple(data["classes"]),
            intercept=tuple(float(x) for x in data["intercept"]),
            terms=tuple(
                {t: tuple(float(x) for x in w) for t, w in part.items()} for part in data["terms"]
            ),
            sounds={ch: sound for sound, chars in data["sounds"].items() for ch in chars},
            route_at=float(data["route_at"]),
            confirm_at=float(data["confirm_at"]),
            digest=str(data["digest"]),
            agree_at=float(data["agree_at"]),
        )


def _compact(sounds: Mapping[str, str]) -> dict[str, str]:
    """Character → sound as sound → its characters, sorted (a smaller, stable file)."""
    by_sound: dict[str, list[str]] = {}
    for ch, sound in sounds.items():
        by_sound.setdefault(sound, []).append(ch)
    return {sound: "".join(sorted(chars)) for sound, chars in sorted(by_sound.items())}


def train(data: TrainingData) -> Classifier:
    """Fit the model on every text, after cross-validation has chosen its thresholds, and
    export it."""
    table = _pinyin_table() if data.lang == intents.ZH else {}
    thresholds = _thresholds(data, table.get)
    pipeline = _pipeline(data.lang, table.get)
    pipeline.fit(*data.pairs())
    return export(pipeline, data, table, *thresholds)


def export(
    pipeline: Any,
    data: TrainingData,
    table: Mapping[str, str],
    route_at: float,
    confirm_at: float,
    agree_at: float = 1.0,
) -> Classifier:
    """A fitted pipeline as plain data (see ``Classifier``)."""
    union, model = pipeline.steps[0][1], pipeline.steps[1][1]
    coef, offset = model.coef_, 0
    terms = []
    for _, vectoriser in union.transformer_list:
        part = {}
        for term, column in vectoriser.vocabulary_.items():
            weights = [_short(x) for x in coef[:, offset + column]]
            part[str(term)] = (_short(vectoriser.idf_[column]), *weights)
        terms.append(part)
        offset += len(vectoriser.vocabulary_)
    known = {t for part in terms for t in part}
    sounds = {ch: sound for ch, sound in table.items() if sound in known}
    return Classifier(
        lang=data.lang,
        classes=tuple(str(c) for c in model.classes_),
        intercept=tuple(float(x) for x in model.intercept_),
        terms=tuple(terms),
        sounds=sounds,
        route_at=route_at,
        confirm_at=confirm_at,
        digest=data.digest(),
        agree_at=agree_at,
    )


def out_of_fold(data: TrainingData, syllable: Syllable) -> tuple[list[str], Any]:
    """(classes, probabilities): each text's class probabilities from a model fitted on the
    other folds (a text's variants stay in its own fold, learnt from only when it is)."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    ys = [k for k, _, _ in data.texts]
    classes = sorted(set(ys))
    smallest = min(sum(y == c for y in ys) for c in classes)
    folds = StratifiedKFold(n_splits=max(2, min(FOLDS, smallest)), shuffle=True, random_state=0)
    probabilities = np.zeros((len(ys), len(classes)))
    for learn, test in folds.split(ys, ys):
        pipeline = _pipeline(data.lang, syllable)
        pipeline.fit(*data.pairs(learn))
        found = pipeline.predict_proba([data.texts[i][1] for i in test])
        columns = [classes.index(str(c)) for c in pipeline.classes_]
        probabilities[np.ix_(test, columns)] = found
    return classes, probabilities


def _short(x: float) -> float:
    """A weight to 5 significant digits: a file a third the size, the same answers."""
    return float(f"{float(x):.5g}")


def _thresholds(data: TrainingData, syllable: Syllable) -> tuple[float, float, float]:
    """The route, confirm and agree thresholds, from out-of-fold predictions of the whole
    phrases and the rules' answers to them (see ``WRONG_ROUTED``, ``NONE_ROUTED``,
    ``LOWEST_CONFIRM`` and ``AGREE_PRECISION``)."""
    classes, probabilities = out_of_fold(data, syllable)
    predicted = []
    for row, (truth, text, whole) in zip(probabilities, data.texts, strict=True):
        if whole:
            best = max(range(len(classes)), key=lambda i: (row[i], -i))
            ruled = intents.match(text, data.choices, data.lang)
            agrees = ruled.clear and ruled.score >= intents.CONTAINS_SCORE
            predicted.append(
                (float(row[best]), classes[best], truth, agrees and ruled.key == classes[best])
            )
    return choose(predicted)


def _steps(low: float, high: float) -> list[float]:
    return [round(low + 0.05 * i, 2) for i in range(int(round((high - low) / 0.05)) + 1)]


def choose(predicted: Sequence[tuple[float, str, str, bool]]) -> tuple[float, float, float]:
    """(route_at, confirm_at, agree_at) from (probability, likeliest class, true class, whether
    the rules route a synonym said whole to that class) of out-of-fold whole phrases, in steps
    of 0.05: route from the probability (from ``LOWEST_ROUTE``) at which the share of in-scope
    phrases routed right less the share of out-of-scope ones routed is highest, among those at
    which at most ``WRONG_ROUTED`` of the in-scope phrases go to a wrong choice and at most
    ``NONE_ROUTED`` of the out-of-scope ones are routed; confirm from the probability, at or
    below that, at which the most in-scope phrases are right within one confirmation (the
    highest such, so as few as needed are asked "did you mean …?"); let the rules route from
    the lowest probability between the two at which the routes that adds are right at least
    ``AGREE_PRECISION`` of the time and both caps still hold (the route threshold itself when
    they would add none)."""
    in_scope = sum(t != NONE for _, _, t, _ in predicted)
    out_of_scope = len(predicted) - in_scope

    def routed(route_at: float, agree_at: float) -> list[tuple[str, str]]:
        return [
            (c, t)
            for p, c, t, agrees in predicted
            if c != NONE and (p >= route_at or (agrees and p >= agree_at))
        ]

    def safe(taken: list[tuple[str, str]]) -> bool:
        wrong = sum(t not in (c, NONE) for c, t in taken)
        none = sum(t == NONE for _, t in taken)
        return wrong <= WRONG_ROUTED * in_scope and none <= NONE_ROUTED * out_of_scope

    def right(at: float) -> int:
        return sum(p >= at and c == t for p, c, t, _ in predicted if t != NONE)

    def gain(at: float) -> float:
        """Youden's J: the share of in-scope phrases routed right less the share of
        out-of-scope ones routed."""
        none = sum(t == NONE for _, t in routed(at, math.inf))
        return right(at) / max(in_scope, 1) - none / max(out_of_scope, 1)

    safe_steps = [at for at in _steps(LOWEST_ROUTE, 1.0) if safe(routed(at, math.inf))]
    route_at = max(safe_steps, key=lambda at: (gain(at), -at)) if safe_steps else 1.0

    confirm_at = max(reversed(_steps(LOWEST_CONFIRM, route_at)), key=right)
    agree_at = route_at
    for at in _steps(confirm_at, route_at):
        taken = routed(route_at, at)
        added = [(c, t) for p, c, t, agrees in predicted if agrees and at <= p < route_at]
        if added and safe(taken) and sum(c == t for c, t in added) >= AGREE_PRECISION * len(added):
            agree_at = at
            break
    return route_at, confirm_at, agree_at


# ----------------------------------------------------------------------------- the cache


def cache_file(data: TrainingData, folder: Path) -> Path:
    return folder / f"intents-{data.lang}-{data.digest()}.json"


def cached(data: TrainingData, folder: Path | None, *, train_missing: bool = True) -> Classifier:
    """The classifier for ``data``: read from ``folder`` when trained before on the same data,
    else trained (needs the extra ``ivr[nlu]``) and written there, atomically: workers may
    start together. ``train_missing=False`` raises ``LookupError`` instead of training."""
    if folder is not None:
        path = cache_file(data, folder)
        try:
            found = Classifier.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            found = None
        if found is not None and found.digest == data.digest():
            return found
    if not train_missing:
        raise LookupError(f"no trained model for this flow's data ({data.digest()})")
    model = train(data)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(model.to_json(), f, ensure_ascii=False, separators=(",", ":"))
        os.replace(tmp, cache_file(data, folder))
    return model
