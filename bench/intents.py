"""How well and how fast spoken answers become keys: ``ivr.voice.intents`` over the phrase sets.

Per language, over tests/speech/<lang>.yaml with the main menu of flows/hotline.yaml and the
synonyms proposed in tests/test_intents.py: main-menu accuracy (an answer counts only when it is
a clear match to its issue), yes/no accuracy, how often an unrelated sentence is routed anyway,
and the time one ``match`` takes against the 8-option main menu (its index already built, as in
a running server) and the one-off cost of building that index. Prints the figures quoted in
the README.

    python bench/intents.py [--quick] [--rounds N] [--misses]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.voice import intents  # noqa: E402
from tests.test_intents import LANGUAGES  # noqa: E402
from tests.test_intents import answered  # noqa: E402
from tests.test_intents import main_menu_choices  # noqa: E402
from tests.test_intents import phrases  # noqa: E402
from tests.test_intents import routed  # noqa: E402


def percent(part: int, whole: int) -> str:
    return f"{part}/{whole} = {100 * part / whole:5.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer timing rounds (CI)")
    parser.add_argument("--rounds", type=int, default=0, help="timing rounds over the phrase set")
    parser.add_argument("--misses", action="store_true", help="list what was not understood")
    args = parser.parse_args()
    rounds = args.rounds or (5 if args.quick else 50)

    print(
        f"speech matching (ivr.voice.intents): clear = score >= {intents.CLEAR_SCORE} "
        f"and {intents.CLEAR_MARGIN} over the runner-up"
    )
    for lang in LANGUAGES:
        menu, questions = phrases(lang)
        wanted = [p for p in menu if p.expected != "none"]
        unrelated = [p for p in menu if p.expected == "none"]
        missed = [(p.say, p.expected, routed(p.say, lang)) for p in wanted]
        missed = [m for m in missed if m[1] != m[2]]
        wrong = [(p.say, p.expected, answered(p.say, lang)) for p in questions]
        wrong = [w for w in wrong if w[1] != w[2]]
        accepted = [(p.say, "none", routed(p.say, lang)) for p in unrelated]
        accepted = [a for a in accepted if a[2] != "none"]

        choices = main_menu_choices(lang)
        intents._index.cache_clear()
        start = time.perf_counter()
        intents.match(wanted[0].say, choices, lang)
        first = time.perf_counter() - start
        times = []
        for _ in range(rounds):
            for phrase in menu:
                start = time.perf_counter()
                intents.match(phrase.say, choices, lang)
                times.append(time.perf_counter() - start)
        median = statistics.median(times) * 1e6
        p95 = statistics.quantiles(times, n=20)[18] * 1e6

        print(f"{lang}")
        print(f"  main menu      {percent(len(wanted) - len(missed), len(wanted))}")
        print(f"  yes/no         {percent(len(questions) - len(wrong), len(questions))}")
        print(f"  false accepts  {percent(len(accepted), len(unrelated))} of unrelated sentences")
        print(
            f"  match()        median {median:5.0f} µs   p95 {p95:5.0f} µs   "
            f"(8 options, {len(menu) * rounds} matches); first call with index build "
            f"{first * 1e6:.0f} µs"
        )
        if args.misses:
            for say, expected, got in missed + wrong + accepted:
                print(f"    {say!r}: expected {expected}, got {got}")


if __name__ == "__main__":
    main()
