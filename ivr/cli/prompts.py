"""The ``ivr prompts`` commands: which recordings are current, making them, adopting them.

Owns the command-line surface of recorded prompts: ``status`` (per language: current, stale,
missing, unadopted; unused files), ``render`` (missing and stale recordings made offline with
espeak-ng and sox, with progress, the manifest updated after each file) and ``adopt`` (a
person's recording dropped in under the right name gets its text in the manifest). The
folder logic lives in ``ivr.media.recordings``, ids in ``ivr.flow.prompts``, synthesis in
``ivr.media.tts``. Settings come from ``ctx.obj``; errors are raised as ``CliError``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

import click

from ivr.cli.context import CliContext
from ivr.engine.catalog import check_flows
from ivr.errors import CliError
from ivr.errors import ConfigError
from ivr.errors import ToolMissing
from ivr.errors import TtsError
from ivr.flow.prompts import Prompt
from ivr.flow.prompts import flow_prompts
from ivr.hotline.actions import hotline
from ivr.media import tts
from ivr.media.recordings import MUSIC
from ivr.media.recordings import PERSON
from ivr.media.recordings import AudioLibrary
from ivr.media.recordings import PromptStatus
from ivr.settings import Settings

LANG_ALIASES = {"zh": "zh-CN", "en": "en-US"}
HOLD_MUSIC = f"{MUSIC}/hold.wav"
_MARKS = {"current": "✓", "stale": "~", "missing": "✗", "unadopted": "?"}
_COLOURS = {"current": "green", "stale": "yellow", "missing": "red", "unadopted": "yellow"}


def _langs(_: click.Context, __: click.Parameter, value: Sequence[str]) -> tuple[str, ...]:
    return tuple(LANG_ALIASES.get(v, v) for v in value)


def load_prompts(settings: Settings) -> tuple[list[Prompt], AudioLibrary]:
    """Every prompt of the configured flows, and the configured recordings folder."""
    try:
        library = AudioLibrary.open(settings.audio_dir)
    except ConfigError as exc:
        raise CliError(str(exc), "fix the setting or the manifest, then try again") from exc
    compiled, problems = check_flows(settings.flows_dir, hotline)
    if problems:
        raise CliError(
            f"{len(problems)} problem(s) in flows",
            "fix them first (`ivr check` lists them)",
            details=[f"  {problem}" for problem in problems],
        )
    prompts = [p for name in sorted(compiled) for p in flow_prompts(compiled[name].flow)]
    return prompts, library


def select(prompts: Sequence[Prompt], langs: Sequence[str], only: Sequence[str]) -> list[Prompt]:
    """The prompts in ``langs`` (all when empty) whose id matches one of ``only`` (an id or a
    glob such as ``hotline.main_menu.*``; all when empty)."""
    known = sorted({p.lang for p in prompts})
    unknown = [lang for lang in langs if lang not in known]
    if unknown:
        raise CliError(
            f"unknown language {unknown[0]!r}", f"use one of {', '.join(known)} (or zh, en)"
        )
    chosen = [
        p
        for p in prompts
        if (not langs or p.lang in langs)
        and (not only or any(fnmatch.fnmatchcase(p.id, pattern) for pattern in only))
    ]
    if only and not chosen:
        raise CliError(
            f"no prompt matches {', '.join(only)}",
            "`ivr prompts status --all` lists every prompt id",
        )
    return chosen


@click.group()
def prompts() -> None:
    """Recorded prompts in audio_prompts/: status, render with offline TTS, adopt recordings."""


lang_option = click.option(
    "--lang",
    "langs",
    multiple=True,
    callback=_langs,
    help="Only this language (zh-CN or zh, en-US or en); repeatable.",
)


@prompts.command()
@lang_option
@click.option("--all", "show_all", is_flag=True, help="List current recordings too.")
@click.option("--strict", is_flag=True, help="Exit 1 unless every recording is current.")
@click.pass_obj
def status(cli: CliContext, langs: tuple[str, ...], show_all: bool, strict: bool) -> None:
    """Per language: which recordings are current, stale (text changed), missing or unadopted."""
    every, library = load_prompts(cli.settings)
    chosen = select(every, langs, ())
    states = library.statuses(chosen)
    for lang in sorted({s.prompt.lang for s in states}):
        mine = [s for s in states if s.prompt.lang == lang]
        counts = {k: sum(1 for s in mine if s.status == k) for k in _MARKS}
        summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        click.echo(click.style(f"{lang}: {len(mine)} prompts: {summary}", bold=True))
        for s in mine:
            if show_all or s.status != "current":
                click.echo(_status_line(s))
    unused = library.unused(every)
    if unused:
        click.echo(click.style(f"unused ({len(unused)}): no prompt has these ids", bold=True))
        for rel in unused:
            click.echo(f"  {rel}")
    pending = [s for s in states if s.status != "current"]
    if any(s.status in {"missing", "stale"} for s in pending):
        click.echo("→ `ivr prompts render` makes missing and stale recordings with espeak-ng")
    if any(s.status == "unadopted" for s in pending):
        click.echo("→ `ivr prompts adopt` records the text of recordings you dropped in")
    if strict and pending:
        raise SystemExit(1)


def _status_line(s: PromptStatus) -> str:
    mark = click.style(f"{_MARKS[s.status]} {s.status:<9}", fg=_COLOURS[s.status])
    line = f"  {mark} {s.prompt.id}  “{s.prompt.text}”"
    if s.status == "stale" and s.recorded is not None:
        line += f"  (recorded from “{s.recorded.text}”)"
    return line


@prompts.command()
@lang_option
@click.option(
    "--only",
    multiple=True,
    metavar="PROMPT",
    help="Only this prompt id or glob (hotline.main_menu.*); repeatable.",
)
@click.option("--force", is_flag=True, help="Render the chosen prompts even when current.")
@click.option(
    "--replace-recorded",
    is_flag=True,
    help="Also replace recordings a person made, adopted or not (kept by default).",
)
@click.pass_obj
def render(
    cli: CliContext,
    langs: tuple[str, ...],
    only: tuple[str, ...],
    force: bool,
    replace_recorded: bool,
) -> None:
    """Make missing and stale recordings with offline TTS (espeak-ng, then sox to 8 kHz μ-law)."""
    every, library = load_prompts(cli.settings)
    chosen = select(every, langs, only)
    todo: list[PromptStatus] = []
    kept: list[PromptStatus] = []
    for s in library.statuses(chosen):
        persons = s.recorded is not None and not tts.made_by(s.recorded.voice)
        if s.status == "unadopted" or (persons and (s.status == "stale" or force)):
            # A file the manifest does not know (as it is now) is a person's: never overwritten
            # unless asked, nor is an adopted one.
            (todo if replace_recorded else kept).append(s)
        elif s.status != "current" or force:
            todo.append(s)
    music = not only and not (library.root / HOLD_MUSIC).exists()
    for s in kept:
        why = "not adopted" if s.status == "unadopted" else "a person's recording"
        click.echo(f"  keeping {s.file} ({why}; see `ivr prompts status`)")
    if not todo and not music:
        click.echo(f"nothing to render: {len(chosen) - len(kept)} recording(s) are current")
        return
    try:
        tools = tts.find_tools()
    except ToolMissing as exc:
        raise CliError(str(exc), "then run `ivr prompts render` again") from exc
    if todo:
        click.echo(f"rendering {len(todo)} recording(s) with espeak-ng into {library.root}")
    seconds = 0.0
    width = len(str(len(todo)))
    try:
        for index, s in enumerate(todo, 1):
            took = _render_one(library, s, tools)
            seconds += took
            click.echo(
                f"  [{index:>{width}}/{len(todo)}] {s.prompt.lang} {s.prompt.id}  {took:.1f} s"
            )
        if music:
            seconds += tts.hold_music(library.root / HOLD_MUSIC, tools)
            click.echo(f"  hold music: {HOLD_MUSIC}")
    except TtsError as exc:
        raise CliError(str(exc), "the recordings made so far are kept and in the manifest") from exc
    size = sum(p.stat().st_size for p in library.files().values())
    updated = "; manifest updated" if todo else ""
    click.echo(
        f"done: {len(todo)} recording(s), {seconds:.1f} s of audio; "
        f"the folder now holds {size / 1_000_000:.1f} MB{updated}"
    )


def _render_one(library: AudioLibrary, s: PromptStatus, tools: tts.Tools) -> float:
    """Make one recording and note it in the manifest; its length in seconds."""
    p = s.prompt
    rel = library.relative(p.id, p.lang)
    seconds = tts.synthesize(p.text, p.lang, library.root / rel, tools)
    if s.file is not None and s.file != rel:  # an older MP3 under the same id
        (library.root / s.file).unlink(missing_ok=True)
        library.forget(s.file)
    library.record(rel, p.text, tts.describe(p.lang))
    library.save()  # after every file: an interrupted run keeps what it made
    return seconds


@prompts.command()
@click.argument("patterns", nargs=-1, metavar="[PROMPT]...")
@lang_option
@click.option("--voice", default=PERSON, show_default=True, help="Who spoke the recordings.")
@click.pass_obj
def adopt(cli: CliContext, patterns: tuple[str, ...], langs: tuple[str, ...], voice: str) -> None:
    """Record in the manifest the text of recordings a person dropped in.

    Without PROMPT: every recording the manifest does not know yet. With PROMPT ids or globs:
    those recordings, also when stale (re-recorded after the text changed)."""
    every, library = load_prompts(cli.settings)
    chosen = select(every, langs, patterns)
    wanted = {"unadopted", "stale"} if patterns else {"unadopted"}
    adopted = 0
    for s in library.statuses(chosen):
        if s.file is None:
            if patterns:
                rel = library.relative(s.prompt.id, s.prompt.lang)
                click.echo(f"  no recording for {s.prompt.id} in {s.prompt.lang} (expected {rel})")
            continue
        if s.status not in wanted:
            continue
        library.record(s.file, s.prompt.text, voice)
        adopted += 1
        click.echo(f"  adopted {s.file}  “{s.prompt.text}”")
    if adopted:
        library.save()
    click.echo(f"{adopted} recording(s) adopted")
    if not adopted and not patterns:
        example = library.relative(chosen[0].id, chosen[0].lang) if chosen else "zh-CN/<id>.wav"
        click.echo(
            f"  → no recording waits to be adopted: drop a person's recording into {library.root} "
            f"named <language>/<prompt id>.wav or .mp3 (e.g. {example}), then run this again;"
        )
        click.echo(
            "    to adopt one re-recorded after its text changed, name it: "
            "`ivr prompts adopt <prompt id>` (`ivr prompts status --all` lists the ids)"
        )
