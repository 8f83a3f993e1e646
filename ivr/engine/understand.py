"""Speech in a flow's menus: which matcher understands it, and what an utterance means there.

Owns, per compiled flow, the choices a menu offers to speech (its options with their labels,
synonyms and ``examples``, plus the agent key with the flow's ``spoken.agent`` words, in every
menu that takes speech), the matcher that is active (``rules``: ``ivr.voice.intents``;
``trained``: ``ivr.voice.classifier``, when the optional extra ``ivr[nlu]`` is installed), and
``menu``/``yes_no``: an utterance to a ``Match`` as the engine acts on it.

The trained matcher is combined with the rules: a synonym said whole (a rule score of
``intents.CONTAINS_SCORE`` or more, clear) routes at once when the model agrees with at least
its cross-validated ``agree_at`` probability; anything else is the model's answer (route,
confirm or ask again by its cross-validated thresholds). A menu whose options have no
``examples`` in a language keeps the rules there.

Models are trained by ``prepare`` when the flow is loaded, or read from the cache folder where
an earlier start or ``ivr intents train`` left them (keyed by the hash of the training data,
which is the flow's own text), so start-up stays fast. A model read from the cache needs
neither scikit-learn nor pypinyin. Depends on ``flow`` and ``voice``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from ivr.flow.spec import Flow
from ivr.flow.spec import State
from ivr.voice import classifier
from ivr.voice import intents
from ivr.voice.intents import Choice
from ivr.voice.intents import Match

log = logging.getLogger(__name__)

RULES, TRAINED, AUTO = "rules", "trained", "auto"
MATCHERS = (AUTO, RULES, TRAINED)
MIN_EXAMPLES = 5
"""``ivr check`` warns about a speech menu's option with fewer examples than this."""


@dataclass(frozen=True)
class Understanding:
    """How one flow's menus understand speech. ``models``: a trained classifier per (menu,
    rule set); a menu without one is matched by the rules."""

    flow: Flow
    models: Mapping[tuple[str, str], classifier.Classifier] = field(default_factory=dict)

    @property
    def matcher(self) -> str:
        """What is active, for ``ivr check`` and the start-up log line."""
        if self.models:
            return f"{TRAINED} (scikit-learn; {len(self.models)} menu models) with rules"
        return RULES

    def choices(self, state: State, lang: str) -> tuple[Choice, ...]:
        """A menu's options as the matchers see them in ``lang``, then the agent key."""
        found = tuple(
            Choice(o.key, (o.label[lang],), o.synonyms.get(lang, ()), o.examples.get(lang, ()))
            for o in state.options
        )
        return (*found, self.agent(lang)) if self.flow.spoken.agent.get(lang) else found

    def agent(self, lang: str) -> Choice:
        spoken = self.flow.spoken
        return Choice(
            self.flow.keys.agent,
            (),
            spoken.agent.get(lang, ()),
            spoken.agent_examples.get(lang, ()),
        )

    def menu(self, state: State, utterance: str, *, lang: str) -> Match:
        """What ``utterance`` means in a menu matching options: a key (an option's or the
        agent's), clear or to be confirmed, or nothing. A key said aloud wins outright."""
        said = intents.spoken_key(utterance, lang)
        if said is not None and said == self.flow.keys.agent:
            return Match(said, intents.EXACT_SCORE, 0.0, intents.clean(utterance, lang))
        choices = self.choices(state, lang)
        ruled = intents.match(utterance, choices, lang)
        model = self.models.get((state.id, intents.rule_set(lang)))
        if model is None or (said is not None and ruled.key == said):
            return self._agent_unnamed(ruled, lang)
        learned = model.match(utterance)
        agrees = learned.key == ruled.key and learned.score >= model.agree_at
        if ruled.clear and ruled.score >= intents.CONTAINS_SCORE and agrees:
            return ruled
        return self._agent_unnamed(learned, lang)

    def _agent_unnamed(self, found: Match, lang: str) -> Match:
        """An unclear agent request is confirmed with the flow's ``spoken.agent_label``
        ("Did you mean an agent?"); a flow without one in ``lang`` asks it again."""
        named = bool(self.flow.spoken.agent_label.get(lang))
        if found.key == self.flow.keys.agent and not found.clear and not named:
            return Match(None, found.score, found.runner_up, found.heard)
        return found

    def agent_asked(self, utterance: str, lang: str) -> bool:
        """Whether a yes/no answer is a request for a person ("转人工", "a real person")."""
        if not self.flow.spoken.agent.get(lang):
            return False
        found = intents.match(utterance, (self.agent(lang),), lang)
        return found.clear and found.score >= intents.CONTAINS_SCORE


def rules_only(flow: Flow) -> Understanding:
    return Understanding(flow)


def training_data(flow: Flow, state: State, lang: str) -> classifier.TrainingData:
    understanding = Understanding(flow)
    return classifier.TrainingData.of(
        understanding.choices(state, lang), flow.spoken.none.get(lang, ()), lang
    )


def trainable(flow: Flow) -> list[tuple[State, str]]:
    """The (menu, language) pairs a model is trained for: menus matching options whose
    options carry examples in that language."""
    return [
        (state, lang)
        for state in flow.states.values()
        if state.type == "menu" and state.speech == "options"
        for lang in flow.languages
        if any(o.examples.get(lang) for o in state.options)
    ]


def prepare(flow: Flow, matcher: str = AUTO, cache: Path | None = None) -> Understanding:
    """The flow's understanding with ``matcher``: ``rules``; ``trained`` (models read from
    ``cache``, or trained there, which needs the extra ``ivr[nlu]``); ``auto``: trained when
    the extra is installed or every model is in the cache already, else the rules."""
    if matcher not in MATCHERS:
        raise ValueError(f"unknown matcher {matcher!r}; known: {', '.join(MATCHERS)}")
    if matcher == RULES:
        return Understanding(flow)
    can_train = classifier.available()
    models = {}
    for state, lang in trainable(flow):
        data = training_data(flow, state, lang)
        try:
            models[(state.id, data.lang)] = classifier.cached(data, cache, train_missing=can_train)
        except LookupError:
            if matcher == TRAINED:
                raise RuntimeError(
                    "the trained matcher needs the extra ivr[nlu] (pip install 'ivr[nlu]') "
                    "or models trained ahead of time (ivr intents train)"
                ) from None
            return Understanding(flow)
    return Understanding(flow, models)


def examples_missing(flow: Flow) -> list[tuple[str, str, int]]:
    """(key path, language, count) of each speech menu option with fewer than
    ``MIN_EXAMPLES`` examples in a language, for ``ivr check``."""
    return [
        (option.path, lang, len(option.examples.get(lang, ())))
        for state in flow.states.values()
        if state.type == "menu" and state.speech == "options"
        for option in state.options
        for lang in flow.languages
        if len(option.examples.get(lang, ())) < MIN_EXAMPLES
    ]
