"""Simulated callers for a load test: call scripts placed against a running IVR with Locust.

Owns what ``ivr load`` runs in each Locust process: ``LoadPlan`` (the server, the weighted
mix of call scripts, the arrival rate, the think time, the bounds), ``MeasuredTransport``
(each webhook timed and reported to Locust by endpoint; an apology counted), ``Tally`` (the
calls placed, passed and failed, and the apologies, which Locust's own statistics do not
hold; sent from workers to the master), ``caller_class`` (the Locust ``User`` that is one
arrival process) and ``figures`` (the report, as JSON-ready data).

Arrivals are an open model: each arrival process places calls at exponential gaps (Poisson,
``rate`` calls per second shared by the processes), each call in a greenlet of its own, so a
slow server does not slow the arrivals down, and concurrency grows as it would on a real
line. Between the things a caller does, it pauses for a think time drawn uniformly between
two bounds. A call runs its script through the project's simulator over HTTP (signed when a
token is given); lasting effects are not checked (they can be only in-process).

Locust (and so gevent, which patches the process it is imported into) is imported inside
``caller_class`` only: importing this module changes nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import random
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Protocol

from ivr.errors import TwimlError
from ivr.testing.factories import CALLS_PER_SIMULATOR
from ivr.testing.factories import random_first_call
from ivr.testing.scripts import Script
from ivr.testing.scripts import discover
from ivr.testing.scripts import load_script
from ivr.testing.scripts import run_script
from ivr.testing.simulator import HttpReply
from ivr.testing.simulator import HttpTransport
from ivr.testing.simulator import Simulator
from ivr.testing.simulator import Transport

# The states a reply names (X-IVR-State) when the caller hears the apology instead of the flow.
APOLOGY_STATES = frozenset({"error", "fallback"})
# Failure messages kept for the report (the first ones; the rest are counted only).
KEPT_FAILURES = 5

# What a transport reports of each request: method, endpoint, milliseconds, bytes, error.
RequestHook = Callable[[str, str, float, int, BaseException | None], None]


@dataclass(frozen=True)
class Weighted:
    """A call script and how often it is picked, relative to the others."""

    script: Script
    weight: float


@dataclass(frozen=True)
class LoadPlan:
    """What one load test does. ``rate`` is the calls per second of all arrival processes
    together (``processes`` of them: one per Locust worker); ``calls`` and ``duration`` bound
    the arrivals, ``drain`` the seconds calls still in progress then get; ``think`` the
    bounds of the pause before each caller action, in seconds. ``concurrency`` caps the calls
    in progress in each process (an arrival then waits for one to end: a closed model, for
    measuring throughput); None leaves arrivals independent of the replies."""

    url: str
    mix: tuple[Weighted, ...]
    rate: float
    think: tuple[float, float] = (2.0, 6.0)
    calls: int | None = None
    duration: float = 60.0
    drain: float = 60.0
    processes: int = 1
    concurrency: int | None = None
    auth_token: str | None = None
    seed: int | None = None
    play_text: Callable[[str], str | None] | None = None

    def share(self) -> tuple[float, int | None]:
        """One arrival process's rate and calls."""
        calls = math.ceil(self.calls / self.processes) if self.calls is not None else None
        return self.rate / self.processes, calls


def read_mix(specs: Sequence[str]) -> tuple[Weighted, ...]:
    """``PATH`` or ``PATH=WEIGHT`` items (a folder: each script in it) → the weighted mix.
    Raises ``ScriptError`` for a script that does not load, ``ValueError`` for a bad weight."""
    mix: list[Weighted] = []
    for spec in specs:
        path, _, weight = spec.partition("=")
        value = float(weight) if weight else 1.0
        if not value > 0:
            raise ValueError(f"{spec!r}: a weight must be a number above 0")
        for found in discover([Path(path)]):
            script = dataclasses.replace(load_script(found), effects=())
            mix.append(Weighted(script, value))
    return tuple(mix)


def pick(mix: Sequence[Weighted], rng: random.Random) -> Script:
    """A script drawn from ``mix`` by weight."""
    return rng.choices([w.script for w in mix], weights=[w.weight for w in mix])[0]


def endpoint(url: str) -> str:
    """The name a request is reported under: its path, without the query."""
    return urllib.parse.urlsplit(url).path or "/"


@dataclass
class Tally:
    """What a load test counts beyond Locust's request statistics."""

    placed: int = 0
    passed: int = 0
    failed: int = 0
    cut: int = 0  # still in progress at the end of the drain, and stopped
    apologies: Counter[str] = field(default_factory=Counter)  # "METHOD /path" -> count
    failures: list[str] = field(default_factory=list)

    def call_ended(self, script: Script, passed: bool, message: str | None) -> None:
        if passed:
            self.passed += 1
            return
        self.failed += 1
        if len(self.failures) < KEPT_FAILURES:
            self.failures.append(f"{script.path}: {message}")

    def take(self) -> dict[str, Any]:
        """What was counted since the last ``take`` (a worker's report to the master)."""
        data = {
            "placed": self.placed,
            "passed": self.passed,
            "failed": self.failed,
            "cut": self.cut,
            "apologies": dict(self.apologies),
            "failures": list(self.failures),
        }
        self.placed = self.passed = self.failed = self.cut = 0
        self.apologies.clear()
        self.failures.clear()
        return data

    def merge(self, data: Mapping[str, Any]) -> None:
        """Add a worker's report (from ``take``)."""
        self.placed += int(data["placed"])
        self.passed += int(data["passed"])
        self.failed += int(data["failed"])
        self.cut += int(data["cut"])
        self.apologies.update(data["apologies"])
        room = KEPT_FAILURES - len(self.failures)
        self.failures.extend(list(data["failures"])[: max(room, 0)])


class MeasuredTransport:
    """A transport that reports each request to ``hook`` (by endpoint, in milliseconds) and
    counts in ``tally`` the replies that are the apology. Errors still raise, as before."""

    def __init__(self, inner: Transport, hook: RequestHook, tally: Tally) -> None:
        self.inner = inner
        self.hook = hook
        self.tally = tally

    def send(
        self, method: str, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        name = endpoint(url)
        started = time.perf_counter()
        try:
            reply = self.inner.send(method, url, form, headers)
        except TwimlError as exc:
            self.hook(method, name, (time.perf_counter() - started) * 1000, 0, exc)
            raise
        # An HTTP error status: a failed request for Locust (the simulator then does as Twilio).
        problem = TwimlError(url, "", f"HTTP {reply.status}") if reply.status >= 400 else None
        self.hook(method, name, reply.elapsed * 1000, len(reply.body), problem)
        if reply.headers.get("x-ivr-state") in APOLOGY_STATES:
            self.tally.apologies[f"{method} {name}"] += 1
        return reply


class Sleep(Protocol):
    def __call__(self, seconds: float) -> None: ...


class Callers:
    """One arrival process of ``plan``: places its share of the calls, each in a task of its
    own (``spawn``), pausing with ``sleep``; reports requests to ``hook``. Each call talks
    through a new ``transport`` (HTTP; tests give the app's WSGI)."""

    def __init__(
        self,
        plan: LoadPlan,
        tally: Tally,
        hook: RequestHook,
        *,
        sleep: Sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        transport: Callable[[], Transport] = HttpTransport,
    ) -> None:
        self.plan = plan
        self.tally = tally
        self.hook = hook
        self.sleep = sleep
        self.rng = rng or random.Random(plan.seed)
        self.clock = clock
        self.transport = transport
        self.first_call = random_first_call()
        self.made = 0

    def think(self) -> None:
        low, high = self.plan.think
        self.sleep(self.rng.uniform(low, high))

    def simulator(self) -> Simulator:
        self.made += 1
        transport = MeasuredTransport(self.transport(), self.hook, self.tally)
        return Simulator(
            transport,
            base_url=self.plan.url,
            auth_token=self.plan.auth_token,
            first_call=self.first_call + self.made * CALLS_PER_SIMULATOR,
            play_text=self.plan.play_text,
            check_media=False,  # Twilio caches media; the load test measures the webhooks
        )

    def call(self, script: Script) -> None:
        """Place one call of ``script`` and count how it went."""
        result = run_script(script, self.simulator(), pause=self.think)
        message = result.failure.message if result.failure is not None else None
        self.tally.call_ended(script, result.passed, message)

    def arrivals(self) -> list[float]:
        """The moments (seconds from the start) this process places its calls: exponential
        gaps, until its share of the calls or the duration runs out."""
        rate, calls = self.plan.share()
        moments: list[float] = []
        at = 0.0
        while calls is None or len(moments) < calls:
            at += self.rng.expovariate(rate)
            if at > self.plan.duration:
                break
            moments.append(at)
        return moments

    def run(self, spawn: Callable[[Callable[[], None]], object]) -> None:
        """Place the calls at their moments (independent of how long each takes)."""
        start = self.clock()
        for at in self.arrivals():
            wait = start + at - self.clock()
            if wait > 0:
                self.sleep(wait)
            elif self.clock() - start > self.plan.duration:
                break  # late (--concurrency held arrivals back): the duration still bounds them
            script = pick(self.plan.mix, self.rng)
            self.tally.placed += 1
            spawn(functools.partial(self.call, script))


def caller_class(
    plan_of: Callable[[Any], LoadPlan], tally: Tally, done: Callable[[], None]
) -> type[Any]:
    """The Locust ``User`` class of one arrival process. ``plan_of`` gives the plan from the
    Locust environment (a worker learns it from the master when told to start); ``done`` is
    called when the process's calls have ended (or the drain ran out)."""
    # Imported here: Locust brings gevent, which patches the process that imports it.
    import gevent
    import gevent.pool
    from locust import User
    from locust import constant
    from locust import task
    from locust.exception import StopUser

    class Caller(User):
        """One arrival process: its calls in greenlets, Locust's request events per webhook."""

        wait_time = constant(0)

        @task
        def place_calls(self) -> None:
            events = self.environment.events
            plan = plan_of(self.environment)

            def hook(
                method: str, name: str, ms: float, size: int, error: BaseException | None
            ) -> None:
                events.request.fire(
                    request_type=method,
                    name=name,
                    response_time=ms,
                    response_length=size,
                    exception=error,
                    context={},
                )

            group = gevent.pool.Pool(plan.concurrency)  # its spawn waits while it is full
            callers = Callers(plan, tally, hook, sleep=gevent.sleep)
            callers.run(group.spawn)
            group.join(timeout=plan.drain)
            tally.cut += len(group)
            group.kill(block=True)
            done()
            raise StopUser()

    return Caller


def _row(entry: Any, seconds: float, apologies: int) -> dict[str, Any]:
    """One line of the report from a Locust ``StatsEntry``."""
    return {
        "requests": entry.num_requests,
        "rps": round(entry.num_requests / seconds, 2) if seconds > 0 else 0.0,
        "p50_ms": entry.get_response_time_percentile(0.50),
        "p95_ms": entry.get_response_time_percentile(0.95),
        "p99_ms": entry.get_response_time_percentile(0.99),
        "errors": entry.num_failures,
        "apologies": apologies,
    }


def figures(
    entries: Mapping[tuple[str, str], Any],
    total: Any,
    tally: Tally,
    *,
    seconds: float,
    plan: LoadPlan,
) -> dict[str, Any]:
    """The report: per endpoint and in total, requests, requests/s, p50/p95/p99 in ms (as
    Locust keeps them: exact to 100 ms, then to two digits), errors and apologies; the calls;
    the plan. ``entries`` are Locust's statistics by (name, method), ``total`` its total."""
    endpoints = {
        f"{method} {name}": _row(entry, seconds, tally.apologies.get(f"{method} {name}", 0))
        for (name, method), entry in sorted(entries.items())
    }
    return {
        "url": plan.url,
        "seconds": round(seconds, 2),
        "plan": {
            "rate": plan.rate,
            "think": list(plan.think),
            "calls": plan.calls,
            "duration": plan.duration,
            "concurrency": plan.concurrency,
            "scripts": len(plan.mix),
        },
        "calls": {
            "placed": tally.placed,
            "passed": tally.passed,
            "failed": tally.failed,
            # cut in the drain, or stopped by the time bound before they ended
            "cut": max(tally.cut, tally.placed - tally.passed - tally.failed),
            "per_s": round(tally.placed / seconds, 2) if seconds > 0 else 0.0,
            "failures": tally.failures,
        },
        "endpoints": endpoints,
        "total": _row(total, seconds, sum(tally.apologies.values())),
    }
