"""The trained matcher: a linear model over character n-grams that says which menu option an
utterance means, behind the same ``Match`` as the rule matcher (``ivr.voice.intents``).

Owns training a menu's classifier from its own data (each choice's labels, synonyms and
``examples``, the agent's words and examples, and a "none of these" class), choosing its
route and confirm thresholds by cross-validation on that data, matching with it, and saving it
to / loading it from a cache file keyed by what it was trained on.

Features, per language:

- zh-CN: TF-IDF over character 1–3-grams of the cleaned text (fillers kept: the model weighs
  them), plus TF-IDF over the toneless pinyin syllables (1–2-grams), so a recogniser's
  homophone (冲值, 体现, 米码) meets the word it stands for (充值, 提现, 密码); Latin words in a
  sentence (code-mixing: "account被freeze了") are tokens of their own.
- en-US: TF-IDF over the stemmed words (1–2-grams, ``intents.normalise``) plus character
  3–5-grams of the words run together, so a word the recogniser split ("pass word", "re fund")
  still meets it.

The model is scikit-learn's ``LogisticRegression`` (balanced classes). ``scikit-learn`` and
``pypinyin`` are the optional extra ``ivr[nlu]``: ``available()`` says whether they are
installed, and nothing here imports them until a model is trained or loaded. Nothing is
downloaded: both ship their data inside their wheels.

Deterministic: the folds and the solver are seeded, so the same data gives the same model and
thresholds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import pickle
import tempfile
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ivr.voice import intents
from ivr.voice.intents import Choice
from ivr.voice.intents import Match

NONE = "none"
"""The class of sentences no choice serves: a match to it is no match (asked again)."""

FORMAT = 1
"""Bumped when features or training change, so older cache files are not used."""

FOLDS = 5
ROUTE_PRECISION = 0.95
"""Route at the lowest probability at which, in cross-validation, at least this share of the
answers routed went to the right choice (out-of-scope sentences routed count as wrong)."""
CONFIRM_PRECISION = 0.75
"""Confirm ("did you mean …?") at the lowest probability at which this share of the answers
confirmed or routed were right; below it, ask again."""
LOWEST_ROUTE = 0.35
LOWEST_CONFIRM = 0.15


def available() -> bool:
    """Whether the optional extra ``ivr[nlu]`` (scikit-learn, pypinyin) is installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("sklearn", "pypinyin"))


# ----------------------------------------------------------------------------- features


def _zh_text(text: str) -> str:
    return intents.clean(text, intents.ZH).replace(" ", "")


def _zh_chars(text: str) -> list[str]:
    """Character 1–3-grams of the cleaned text (Latin runs as whole tokens)."""
    units = _zh_units(text)
    grams: list[str] = []
    for n in (1, 2, 3):
        grams.extend("".join(units[i : i + n]) for i in range(len(units) - n + 1))
    return grams


def _zh_units(text: str) -> list[str]:
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


def _zh_pinyin(text: str) -> list[str]:
    """Toneless pinyin syllables, 1–2-grams."""
    syllables = _pinyin(_zh_text(text))
    return syllables + [f"{a}_{b}" for a, b in zip(syllables, syllables[1:], strict=False)]


def _pinyin(text: str) -> list[str]:
    from pypinyin import lazy_pinyin

    return [s for s in lazy_pinyin(text) if s.strip()]


def _en_words(text: str) -> list[str]:
    words = intents.normalise(text, intents.EN).split()
    return words + [f"{a}_{b}" for a, b in zip(words, words[1:], strict=False)]


def _en_chars(text: str) -> list[str]:
    joined = "".join(intents.clean(text, intents.EN).split())
    return [joined[i : i + n] for n in (3, 4, 5) for i in range(len(joined) - n + 1)]


_ANALYSERS = {intents.ZH: (_zh_chars, _zh_pinyin), intents.EN: (_en_words, _en_chars)}


def _vectoriser(lang: str) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    parts = [
        (fn.__name__, TfidfVectorizer(analyzer=fn, sublinear_tf=True, lowercase=False))
        for fn in _ANALYSERS[lang]
    ]
    return FeatureUnion(parts)


def _model() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=20.0, class_weight="balanced", max_iter=2000, random_state=0)


# ----------------------------------------------------------------------------- the matcher


@dataclass(frozen=True)
class TrainingData:
    """What a menu's classifier learns from, in one language: (class, text, whole phrase?) for
    every label, synonym and example of each choice (a class is a choice's key) and every
    out-of-scope sentence (class ``NONE``). Thresholds are scored on whole phrases only:
    single words are not what callers say."""

    lang: str
    texts: tuple[tuple[str, str, bool], ...]

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
        return cls(intents.rule_set(lang), found)

    def digest(self) -> str:
        """The cache key: what the model is trained on, and how."""
        blob = json.dumps([FORMAT, self.lang, self.texts], ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]

    def pairs(self) -> tuple[list[str], list[str]]:
        return [t for _, t, _ in self.texts], [k for k, _, _ in self.texts]


@dataclass(frozen=True)
class Classifier:
    """A trained menu: ``match`` gives the likeliest choice and its probability. It routes at
    ``route_at`` or above, confirms from ``confirm_at``, and asks again below that or when the
    likeliest class is ``NONE``."""

    lang: str
    pipeline: Any
    classes: tuple[str, ...]
    route_at: float
    confirm_at: float
    digest: str

    def match(self, utterance: str) -> Match:
        heard = intents.clean(utterance, self.lang)
        text = utterance[: intents.MAX_HEARD * 2]
        if not heard:
            return Match(None, 0.0, 0.0, heard)
        probabilities = self.pipeline.predict_proba([text])[0]
        ranked = sorted(range(len(self.classes)), key=lambda i: (-probabilities[i], i))
        best, second = ranked[0], ranked[1] if len(ranked) > 1 else ranked[0]
        score = round(float(probabilities[best]), 4)
        runner_up = round(float(probabilities[second]), 4) if second != best else 0.0
        key = self.classes[best]
        if key == NONE or score < self.confirm_at:
            return Match(None, score, runner_up, heard)
        return Match(key, score, runner_up, heard, route_at=self.route_at, margin=0.0)


def train(data: TrainingData) -> Classifier:
    """Fit the model on every text, after cross-validation has chosen its thresholds."""
    from sklearn.pipeline import make_pipeline

    xs, ys = data.pairs()
    route_at, confirm_at = _thresholds(data, xs, ys)
    pipeline = make_pipeline(_vectoriser(data.lang), _model())
    pipeline.fit(xs, ys)
    classes = tuple(str(c) for c in pipeline.classes_)
    return Classifier(data.lang, pipeline, classes, route_at, confirm_at, data.digest())


def _thresholds(data: TrainingData, xs: list[str], ys: list[str]) -> tuple[float, float]:
    """The route and confirm thresholds: the lowest probabilities that keep, over out-of-fold
    predictions, ``ROUTE_PRECISION`` and ``CONFIRM_PRECISION``."""
    from sklearn.model_selection import StratifiedKFold
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline

    smallest = min(sum(y == c for y in ys) for c in set(ys))
    folds = StratifiedKFold(n_splits=max(2, min(FOLDS, smallest)), shuffle=True, random_state=0)
    pipeline = make_pipeline(_vectoriser(data.lang), _model())
    probabilities = cross_val_predict(pipeline, xs, ys, cv=folds, method="predict_proba")
    classes = sorted(set(ys))
    predicted = []
    for row, (truth, _, whole) in zip(probabilities, data.texts, strict=True):
        if whole:
            best = max(range(len(classes)), key=lambda i: (row[i], -i))
            predicted.append((float(row[best]), classes[best], truth))
    route_at = _lowest(predicted, ROUTE_PRECISION, LOWEST_ROUTE)
    confirm_at = _lowest(predicted, CONFIRM_PRECISION, LOWEST_CONFIRM)
    return route_at, min(confirm_at, route_at)


def _lowest(predicted: list[tuple[float, str, str]], precision: float, floor: float) -> float:
    """The lowest threshold (in steps of 0.05, at least ``floor``) at which the answers taken
    (probability at or above it, class not ``NONE``) are right at least ``precision`` of the
    time; an out-of-scope sentence taken is wrong."""
    steps = [round(floor + 0.05 * i, 2) for i in range(int((1 - floor) / 0.05) + 1)]
    for at in steps:
        taken = [(c, t) for p, c, t in predicted if p >= at and c != NONE]
        if not taken or sum(c == t for c, t in taken) / len(taken) >= precision:
            return at
    return 1.0


# ----------------------------------------------------------------------------- the cache


def cached(data: TrainingData, folder: Path | None) -> Classifier:
    """The classifier for ``data``: read from ``folder`` when trained before on the same data,
    else trained and written there (atomically: workers may start together)."""
    if folder is None:
        return train(data)
    path = folder / f"intents-{data.lang}-{data.digest()}.pickle"
    if path.exists():
        with path.open("rb") as f:
            found = pickle.load(f)  # noqa: S301 - our own file, named by the hash of its data
        if isinstance(found, Classifier) and found.digest == data.digest():
            return found
    model = train(data)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        pickle.dump(model, f)
    os.replace(tmp, path)
    return model


@cache
def _warm(lang: str) -> None:
    """Load pypinyin's dictionary now rather than during a call."""
    if lang == intents.ZH:
        _pinyin("你好")


def warm(models: Mapping[Any, Classifier]) -> None:
    for model in models.values():
        _warm(model.lang)
