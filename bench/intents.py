"""How well and how fast spoken answers are understood, by each matcher, on each phrase set.

Per language, over the main menu of flows/hotline.yaml (its options and the agent key) as the
engine understands it (``ivr.engine.understand``), for the rule matcher and, when the extra
``ivr[nlu]`` is installed, the trained one:

- on the tuning set (tests/speech/<lang>.yaml) and the held-out set
  (tests/speech/heldout/<lang>.yaml) and the second one, by another author
  (tests/speech/heldout2/<lang>.yaml), separately: first-turn accuracy, right within one
  confirmation, wrong branch, confirm and reprompt rates, out-of-scope false routes, yes/no
  accuracy and hedges taken as yes (``ivr.voice.evaluation``);
- CPU per match (median and p95, ``time.process_time`` over every phrase, several rounds);
- memory added per worker and start-up time added: a fresh interpreter loads the flow, then
  prepares the trained matcher from a warm cache (what a worker does at start) and, apart,
  from a cold one (training, as after a flow edit); resident memory is read from /proc.

    python bench/intents.py [--quick] [--rounds N] [--misses] [--matcher rules|trained]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.engine import understand  # noqa: E402
from ivr.flow.loader import load_flow  # noqa: E402
from ivr.flow.spec import State  # noqa: E402
from ivr.voice import classifier  # noqa: E402
from ivr.voice import evaluation  # noqa: E402
from ivr.voice import intents  # noqa: E402

HOTLINE = ROOT / "flows" / "hotline.yaml"
LANGUAGES = ("zh-CN", "en-US")
SETS = {
    "tuning": ROOT / "tests" / "speech",
    "held-out": ROOT / "tests" / "speech" / "heldout",
    "held-out 2": ROOT / "tests" / "speech" / "heldout2",
}

_STARTUP = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
from ivr.flow.loader import load_flow
from ivr.engine import understand
flow = load_flow(Path({flow!r}))
before = rss()
start = time.perf_counter()
found = understand.prepare(flow, "trained", Path({cache!r}))
took = time.perf_counter() - start
print(json.dumps({{"seconds": took, "mb": rss() - before, "matcher": found.matcher}}))
"""


def startup(cache: Path) -> dict[str, float]:
    code = _STARTUP.format(root=str(ROOT), flow=str(HOTLINE), cache=str(cache))
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer timing rounds (CI)")
    parser.add_argument("--rounds", type=int, default=0, help="timing rounds over the phrases")
    parser.add_argument("--misses", action="store_true", help="list what was not understood")
    parser.add_argument("--matcher", choices=("rules", "trained"), action="append")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 10)
    matchers = args.matcher or ["rules", *(["trained"] if classifier.available() else [])]

    flow = load_flow(HOTLINE)
    menu = flow.states["main_menu"]
    keys = {o.issue or o.key: o.key for o in menu.options} | {"agent": flow.keys.agent}
    with tempfile.TemporaryDirectory() as scratch:
        cache = Path(scratch)
        if "trained" in matchers:
            # Trained once, in a fresh interpreter (cold: no cache), then loaded from the cache
            # it wrote by another one (warm) and by this process: one training, not two.
            cold = startup(cache)
            warm = startup(cache)
        for matcher in matchers:
            found = understand.prepare(flow, matcher, cache)
            print(f"== matcher: {found.matcher}")
            if matcher == "trained":
                for (state, rules), model in sorted(found.models.items()):
                    print(
                        f"   {state} {rules}: route at {model.route_at}, confirm from "
                        f"{model.confirm_at}, rules agreed with from {model.agree_at} "
                        "(cross-validated)"
                    )
            for lang in LANGUAGES:
                report(found, menu, lang, keys, rounds, args.misses)
        if "trained" in matchers:
            print("== start-up added per worker (trained matcher, fresh interpreter)")
            print(
                f"   from the cache: {warm['seconds']:.2f} s, {warm['mb']:.0f} MB resident "
                f"memory added; training (no cache): {cold['seconds']:.2f} s, "
                f"{cold['mb']:.0f} MB"
            )


def report(
    found: understand.Understanding,
    menu: State,
    lang: str,
    keys: dict[str, str],
    rounds: int,
    misses: bool,
) -> None:
    print(f"-- {lang}")
    said: list[str] = []
    for name, folder in SETS.items():
        phrases = evaluation.read_phrases(folder / f"{lang}.yaml")
        said += [p.say for p in phrases.menu]
        score = evaluation.score_menu(
            phrases.menu,
            lambda u: found.menu(menu, u, lang=lang),
            keys,
            never_confirmed=() if found.flow.spoken.agent_label.get(lang) else (keys["agent"],),
        )
        answers = evaluation.score_yes_no(phrases.yes_no, lambda u: intents.yes_no(u, lang))
        print(f"   {name} ({len(phrases.menu)} menu phrases, {len(phrases.yes_no)} yes/no)")
        for line in evaluation.menu_lines(score) + evaluation.yes_no_lines(answers):
            print(f"      {line}")
        if misses:
            for say, expected, got in score.misses + answers.misses:
                print(f"         {say!r}: expected {expected}, got {got}")
    times = []
    for _ in range(rounds):
        for utterance in said:
            start = time.process_time()
            found.menu(menu, utterance, lang=lang)
            times.append(time.process_time() - start)
    median = statistics.median(times) * 1e3
    p95 = statistics.quantiles(times, n=20)[18] * 1e3
    print(f"   CPU per match: median {median:.2f} ms, p95 {p95:.2f} ms ({len(times)} matches)")


if __name__ == "__main__":
    main()
