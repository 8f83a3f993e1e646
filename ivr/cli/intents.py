"""``ivr intents``: the loop that teaches the speech matcher from real calls.

Owns four commands over a flow's speech menu (the first menu that matches options, or
``--menu``):

- ``review``: what callers said that was not understood at once (asked again, confirmed, or
  corrected after "did you mean …?"), from the call records, most frequent first, written as a
  phrase file (``ivr.voice.evaluation``) for a person to label;
- ``learn FILE``: the labelled phrases added to the flow's ``examples:`` (an option's, or the
  ``spoken:`` agent's and none's), the flow file edited in place, its comments kept;
- ``eval [FILE]``: accuracy, wrong branch, confirm and reprompt rates, out-of-scope false
  routes and a confusion matrix, per language, with the matcher ``IVR_MATCHER`` selects;
- ``train``: the trained models built ahead of time into ``IVR_NLU_CACHE``.

Wiring only: phrase files and measures are ``ivr.voice.evaluation``'s, matchers
``ivr.engine.understand``'s, the records ``ivr.stores.records``'.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from pathlib import Path

import click

from ivr.cli.context import CliContext
from ivr.engine import understand
from ivr.engine.step import SPEECH
from ivr.errors import CliError
from ivr.errors import FlowValidationError
from ivr.errors import YamlError
from ivr.flow.loader import load_flow
from ivr.flow.spec import Flow
from ivr.flow.spec import State
from ivr.settings import Settings
from ivr.stores.records import CallRecorder
from ivr.voice import classifier
from ivr.voice import evaluation
from ivr.voice import intents as matching
from ivr.voice.languages import CODES
from ivr.yamlstrict import load

REVIEWED = ("reprompt", "confirm", "corrected")
HELD_OUT = Path("tests") / "speech" / "heldout"


@click.group()
def intents() -> None:
    """Teach the speech matcher from real calls: review, learn, eval, train."""


def _flow(cli: CliContext, flow_file: Path | None) -> Flow:
    path = flow_file or cli.settings.flows_dir / f"{cli.settings.flow}.yaml"
    try:
        return load_flow(path)
    except (OSError, FlowValidationError, YamlError) as exc:
        raise CliError(f"cannot read the flow {path}: {exc}", "run `ivr check`") from None


def _menu(flow: Flow, name: str | None) -> State:
    menus = [s for s in flow.states.values() if s.type == "menu" and s.speech == "options"]
    found = next((s for s in menus if s.id == name), None) if name else next(iter(menus), None)
    if found is None:
        known = ", ".join(s.id for s in menus) or "none"
        raise CliError(
            f"no speech menu {name or ''} in flow {flow.name}".replace("  ", " "),
            f"name one that matches options (speech: options): {known}",
        )
    return found


def _keys(flow: Flow, menu: State) -> dict[str, str]:
    """Each name a phrase may expect → its key: the option's issue (or key), and agent."""
    keys = {(o.issue or o.key): o.key for o in menu.options}
    return keys | {evaluation.AGENT: flow.keys.agent}


_FLOW = click.option(
    "--flow",
    "flow_file",
    type=click.Path(path_type=Path),
    help="The flow file (default: IVR_FLOW).",
)
_MENU = click.option("--menu", help="The speech menu (default: the first that matches options).")


def report_speech(flow: Flow, settings: Settings) -> None:
    """For ``ivr check``: which matcher understands speech, and each speech menu option with
    too few examples for the trained matcher to learn it (a warning)."""
    if not any(s.type == "menu" and s.speech for s in flow.states.values()):
        return
    if settings.matcher == understand.RULES:
        active = "rules (IVR_MATCHER=rules)"
    elif classifier.available():
        active = "trained (scikit-learn installed), with rules"
    else:
        active = "rules (install ivr[nlu] for the trained matcher)"
    click.echo(click.style("✓ ", fg="green") + f"speech in menus: {active} matcher")
    for path, lang, count in understand.examples_missing(flow):
        click.echo(
            click.style("! ", fg="yellow")
            + f"{flow.file}: {path}.examples.{lang}: {count} example(s); "
            f"at least {understand.MIN_EXAMPLES} teach the trained matcher this option"
        )


# ----------------------------------------------------------------------------- review


@intents.command()
@_FLOW
@_MENU
@click.option("--lang", type=click.Choice(CODES), help="Only calls in this language.")
@click.option("--out", type=click.Path(path_type=Path), help="Write here (default: stdout).")
@click.option("--limit", type=int, default=200, show_default=True, help="At most this many.")
@click.pass_obj
def review(
    cli: CliContext,
    flow_file: Path | None,
    menu: str | None,
    lang: str | None,
    out: Path | None,
    limit: int,
) -> None:
    """What callers said that was not understood at once, most frequent first, as a phrase file
    to label: set each intent (an option's issue, agent or none), then `ivr intents learn`."""
    from ivr.cli.main import build_app
    from ivr.cli.main import runtime_of

    flow = _flow(cli, flow_file)
    state = _menu(flow, menu)
    runtime = runtime_of(build_app(cli.settings.with_values({"IVR_MATCHER": "rules"})))
    counts: Counter[tuple[str, str]] = Counter()
    outcomes: dict[tuple[str, str], Counter[str]] = {}
    recorder = CallRecorder(runtime.database, runtime.services.clock)
    for call_lang, state_id, detail in recorder.speech_inputs(f" {SPEECH} "):
        if state_id != state.id or (lang is not None and call_lang != lang):
            continue
        heard = _heard(detail)
        if heard is None or heard.get("outcome") not in REVIEWED or not heard.get("said"):
            continue
        key = (call_lang, str(heard["said"]))
        counts[key] += 1
        outcomes.setdefault(key, Counter())[str(heard["outcome"])] += 1
    names = ", ".join([*_keys(flow, state), evaluation.NONE])
    lines = [
        f"# Said at {flow.name}.{state.id} and not understood at once, most frequent first.",
        f"# Set each intent to one of: {names}; leave it empty to skip the phrase.",
        "# Then: ivr intents learn THIS_FILE --lang LANG",
        "intents:",
    ]
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    for (call_lang, said), n in ranked:
        how = ", ".join(f"{k} {v}" for k, v in sorted(outcomes[(call_lang, said)].items()))
        entry = json.dumps(said, ensure_ascii=False)
        lines.append(f'  - {{say: {entry}, intent: ""}}  # {n}× {call_lang}: {how}')
    if not ranked:
        lines[-1] = "intents: []"
    text = "\n".join(lines) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"{len(ranked)} phrase(s) to label written to {out}", err=True)


def _heard(detail: str) -> dict[str, object] | None:
    _, _, blob = detail.partition(f" {SPEECH} ")
    try:
        found = json.loads(blob)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


# ----------------------------------------------------------------------------- learn


@intents.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--lang", type=click.Choice(CODES), required=True, help="The phrases' language.")
@_FLOW
@_MENU
@click.pass_obj
def learn(cli: CliContext, file: Path, lang: str, flow_file: Path | None, menu: str | None) -> None:
    """Add the labelled phrases of FILE to the flow's examples (an option's, the agent's, or
    none's), editing the flow file in place."""
    path = flow_file or cli.settings.flows_dir / f"{cli.settings.flow}.yaml"
    flow = _flow(cli, path)
    state = _menu(flow, menu)
    phrases = _labelled(file)
    keys = _keys(flow, state)
    where: dict[str, str] = {}
    for i, option in enumerate(state.options):
        where[option.issue or option.key] = f"states.{state.id}.options[{i}].examples.{lang}"
    where[evaluation.AGENT] = f"spoken.agent_examples.{lang}"
    where[evaluation.NONE] = f"spoken.none.{lang}"
    known = {**dict.fromkeys(keys), evaluation.NONE: None}
    wanted: dict[str, list[str]] = {}
    for p in phrases:
        if p.expected not in known:
            raise CliError(
                f"{file}: {p.say!r}: unknown intent {p.expected!r}",
                f"use one of: {', '.join(known)}",
            )
        wanted.setdefault(where[p.expected], []).append(p.say)
    text = path.read_text(encoding="utf-8")
    added = 0
    for key_path, says in wanted.items():
        text, n = _append(text, str(path), key_path, says, _existing(flow, state, key_path))
        added += n
    path.write_text(text, encoding="utf-8")
    _flow(cli, path)  # still a valid flow
    click.echo(f"{added} example(s) added to {path} ({len(phrases) - added} already there)")


def _labelled(file: Path) -> list[evaluation.Phrase]:
    try:
        found = evaluation.read_phrases(file)
    except (ValueError, YamlError) as exc:
        raise CliError(str(exc), "fix the file: each entry is {say: …, intent: …}") from None
    return [p for p in found.menu if p.expected.strip()]


def _existing(flow: Flow, state: State, key_path: str) -> set[str]:
    lang = key_path.rsplit(".", 1)[1]
    if key_path.startswith("spoken.agent_examples"):
        return set(flow.spoken.agent_examples.get(lang, ()))
    if key_path.startswith("spoken.none"):
        return set(flow.spoken.none.get(lang, ()))
    index = int(key_path.split("[", 1)[1].split("]", 1)[0])
    return set(state.options[index].examples.get(lang, ()))


def _append(
    text: str, name: str, key_path: str, says: list[str], existing: set[str]
) -> tuple[str, int]:
    """``text`` with ``says`` appended to the one-line list at ``key_path``."""
    new = [s for s in dict.fromkeys(says) if s not in existing]
    if not new:
        return text, 0
    line = load(text, name).lines.line_of(key_path)
    lines = text.split("\n")
    if line is None or not lines[line - 1].rstrip().endswith("]"):
        raise CliError(
            f"{name}: {key_path}: no one-line list to add to",
            f"write it first as `{key_path.rsplit('.', 1)[1]}: [...]`",
        )
    current = lines[line - 1].rstrip()
    shown = ", ".join(json.dumps(s, ensure_ascii=False) for s in new)
    empty = current.endswith("[]")
    lines[line - 1] = current[:-1] + ("" if empty else ", ") + shown + "]"
    return "\n".join(lines), len(new)


# ----------------------------------------------------------------------------- eval


@intents.command("eval")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--lang", type=click.Choice(CODES), help="The files' language (else their name).")
@_FLOW
@_MENU
@click.option("--misses", is_flag=True, help="List every phrase not routed right at once.")
@click.pass_obj
def eval_(
    cli: CliContext,
    files: tuple[Path, ...],
    lang: str | None,
    flow_file: Path | None,
    menu: str | None,
    misses: bool,
) -> None:
    """Score phrase files (default: tests/speech/heldout/<lang>.yaml): accuracy, wrong
    branch, confirm and reprompt rates, out-of-scope false routes, a confusion matrix."""
    flow = _flow(cli, flow_file)
    state = _menu(flow, menu)
    if not files:
        files = tuple(HELD_OUT / f"{code}.yaml" for code in flow.languages)
        files = tuple(f for f in files if f.exists())
        if not files:
            raise CliError(
                f"no phrase files given and none in {HELD_OUT}",
                "name a phrase file: ivr intents eval FILE --lang zh-CN",
            )
    found = _prepare(cli, flow)
    click.echo(f"matcher: {found.matcher}")
    keys = _keys(flow, state)
    for file in files:
        code = lang or file.stem
        if code not in CODES:
            raise CliError(f"{file}: which language is it?", "add --lang zh-CN (or en-US)")
        phrases = _labelled_all(file)
        score = evaluation.score_menu(
            phrases.menu,
            functools.partial(found.menu, state, lang=code),
            keys,
            can_confirm=flow.phrases.confirm is not None,
            never_confirmed=() if flow.spoken.agent_label.get(code) else (flow.keys.agent,),
        )
        answers = evaluation.score_yes_no(
            phrases.yes_no, functools.partial(matching.yes_no, lang=code)
        )
        click.echo(f"{file} ({code}): {len(phrases.menu)} menu phrases")
        for line in evaluation.menu_lines(score):
            click.echo(f"  {line}")
        if phrases.yes_no:
            for line in evaluation.yes_no_lines(answers):
                click.echo(f"  {line}")
        click.echo("  confusion (rows: said; columns: routed at once; none: not routed)")
        for line in evaluation.confusion_lines(score, list(keys)):
            click.echo(f"    {line}")
        if misses:
            for say, expected, got in score.misses + answers.misses:
                click.echo(f"    {say!r}: expected {expected}, got {got}")


def _labelled_all(file: Path) -> evaluation.PhraseFile:
    try:
        return evaluation.read_phrases(file)
    except (ValueError, YamlError) as exc:
        raise CliError(str(exc), "fix the phrase file") from None


def _prepare(cli: CliContext, flow: Flow, matcher: str | None = None) -> understand.Understanding:
    try:
        return understand.prepare(flow, matcher or cli.settings.matcher, cli.settings.nlu_cache)
    except RuntimeError as exc:
        raise CliError(str(exc), "or set IVR_MATCHER=rules") from None


# ----------------------------------------------------------------------------- train


@intents.command()
@_FLOW
@click.pass_obj
def train(cli: CliContext, flow_file: Path | None) -> None:
    """Train the flow's speech models now into IVR_NLU_CACHE, so servers start fast."""
    flow = _flow(cli, flow_file)
    if not understand.trainable(flow):
        raise CliError(
            f"flow {flow.name} has no speech menu with examples",
            "add examples: to the options of a menu with speech: options",
        )
    found = _prepare(cli, flow, understand.TRAINED)
    for (state_id, rules), model in sorted(found.models.items()):
        click.echo(
            f"{state_id} {rules}: {len(model.classes)} classes, route at {model.route_at}, "
            f"confirm from {model.confirm_at}, a whole synonym the model agrees with routes "
            f"from {model.agree_at}"
        )
    click.echo(f"models in {cli.settings.nlu_cache}")
