"""Simulator factories: a fresh simulator per call, for the app in this process, for a server,
or in the worker processes of a parallel replay.

Owns ``LocalSimulators`` and ``local_simulators`` (the app built here and driven through WSGI,
optionally isolated so that scripts cannot disturb each other or your data),
``remote_simulators`` (a running server, over HTTP) and ``ServerClock``, which moves the clock
of a server started with ``ivr serve --demo-control`` in step with the simulator's, so that a
replay against it starts every script from the same time and the same demo data as one in
this process. ``ivr replay`` and ``ivr call``, ``bench/replay.py`` and the tests all make their
simulators here, so they drive calls alike.

``ParallelRunner`` runs call scripts for ``ivr replay --jobs N`` in N worker processes, each
with its own isolated app built here (a private demo database in a temporary folder of its
own, its own fixed clock, the demo data and callback requests put back before every call),
and hands their results back in the order of the files, each as soon as it and those before
it are done. A script gets the CallSids it gets in a serial replay (from its place among the
scripts run), so what it hears does not depend on the worker that ran it, and coverage,
computed from the results, covers every worker's calls. Workers are forked where the platform
can (they inherit the imports), spawned elsewhere; each has a pipe to the process that started
it, which reads them in its own loop (no ``multiprocessing.Pool``: its handler threads cost
that process more CPU than handing out the scripts did). ``job_count`` says what ``--jobs``
means.

Each in-process simulator also gets the app's callback dialer (``ivr.hotline.dialer``), placing
its calls through a fake of Twilio's REST API (``ivr.testing.twilio_api``), so call scripts can
describe a callback: the simulator answers the calls the dialer asked for.

Sits in ``testing`` above ``web``, so it may build the app (``create_app``); the simulator and
call scripts it feeds must not know the app. It reads no environment and configures no
logging: settings come in, and logging is the entry point's.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import multiprocessing
import os
import pickle
import secrets
import tempfile
import time
import traceback
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import datetime
from datetime import timedelta
from multiprocessing.connection import Connection
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import ForkingPickler
from types import MappingProxyType
from types import TracebackType
from typing import Any

from flask import Flask

from ivr.clock import ManualClock
from ivr.clock import SystemClock
from ivr.errors import SimulationError
from ivr.hotline.checks import wallet_checks
from ivr.hotline.dialer import Dialer
from ivr.hotline.dialer import RetryPolicy
from ivr.settings import Settings
from ivr.stores.callbacks import CallbackBook
from ivr.telephony.calls import TwilioPlacer
from ivr.telephony.numbers import Credentials
from ivr.testing.scripts import EffectCheck
from ivr.testing.scripts import Script
from ivr.testing.scripts import ScriptResult
from ivr.testing.scripts import run_script
from ivr.testing.simulator import HttpTransport
from ivr.testing.simulator import OutboundRequest
from ivr.testing.simulator import Simulator
from ivr.testing.simulator import WsgiTransport
from ivr.testing.twilio_api import FakeCallsApi
from ivr.wallet import DemoSnapshot
from ivr.web.app import create_app
from ivr.web.control import CONTROL_PATH
from ivr.web.runtime import Runtime

# The moment the shipped call scripts were written for (the demo data is relative to "now").
REPLAY_TIME = datetime.fromisoformat("2026-11-23T10:00:00+08:00")
# Each simulator numbers its CallSids from its own multiple of this, so none collide.
CALLS_PER_SIMULATOR = 10_000
# The account of the fake REST API the in-process dialer places its calls through.
_FAKE_ACCOUNT = Credentials("AC" + "f" * 32, "replay")


def random_first_call() -> int:
    """Where a factory that calls a lasting database starts numbering its CallSids: random,
    so that no run reuses a CallSid whose session an earlier run (or person) left stored."""
    return secrets.randbits(64) << 32


SimulatorFactory = Callable[[], Simulator]
PlayText = Callable[[str], str | None]  # the words a <Play> URL says, if known


class LocalSimulators:
    """Makes simulators that call ``app`` through WSGI as Twilio would: at the app's public
    URL, signed with its auth token, played prompts read as the text they were recorded from.

    ``clock`` is shared with every simulator (the app's too, when it was built with it). With
    ``reset_to``, each new simulator first sets that clock back to ``reset_to`` and puts the
    demo accounts back as they were: a fresh start per call. CallSids are numbered from
    ``first_call`` (the default suits a private database; give ``random_first_call()`` for
    one that outlives this process).
    """

    def __init__(
        self,
        app: Flask,
        *,
        clock: ManualClock | None = None,
        reset_to: datetime | None = None,
        first_call: int = 0,
    ) -> None:
        if reset_to is not None and clock is None:
            raise ValueError("reset_to needs the clock to set back")
        self.app = app
        self.runtime: Runtime = app.extensions["ivr"]
        self.clock = clock
        self.reset_to = reset_to
        self.first_call = first_call
        self.made = 0
        # the demo data as seeded at reset_to, put back before every call
        self.demo = DemoSnapshot(self.runtime.database, clock or SystemClock(), self.runtime.pins)

    def __call__(self) -> Simulator:
        self.made += 1
        if self.clock is not None and self.reset_to is not None:
            self.clock.set(self.reset_to)
            self.demo.restore()
            if self.runtime.callbacks is not None:
                self.runtime.callbacks.clear()
        settings = self.runtime.settings
        first = self.first_call + self.made * CALLS_PER_SIMULATOR
        base_url = settings.public_url or "http://localhost"
        simulator = Simulator(
            WsgiTransport(self.app),
            base_url=base_url,
            auth_token=settings.twilio_auth_token,
            clock=self.clock,
            first_call=first,
            play_text=self.runtime.play_text,
        )
        simulator.dialer = self._dialer(simulator, base_url, first + CALLS_PER_SIMULATOR // 2)
        return simulator

    def _dialer(
        self, simulator: Simulator, base_url: str, first_call: int
    ) -> Callable[[], Sequence[OutboundRequest]] | None:
        """One round of the app's callback dialer, calling from the number the simulator's
        callers dial, through a fake of Twilio's REST API: the calls it asked for. The dialer
        and its fake API are built on the first round: most calls describe no callback."""
        rt = self.runtime
        book = rt.callbacks
        if book is None:
            return None
        built: list[tuple[FakeCallsApi, Dialer]] = []

        def run() -> Sequence[OutboundRequest]:
            if not built:
                built.append(self._new_dialer(book, simulator, base_url, first_call))
            api, dialer = built[0]
            before = len(api.created)
            dialer.run_once()
            return api.requests[before:]

        return run

    def _new_dialer(
        self, book: CallbackBook, simulator: Simulator, base_url: str, first_call: int
    ) -> tuple[FakeCallsApi, Dialer]:
        rt = self.runtime
        api = FakeCallsApi(
            _FAKE_ACCOUNT.account_sid, _FAKE_ACCOUNT.auth_token, first_call=first_call
        )
        clock = self.clock if self.clock is not None else rt.services.clock
        dialer = Dialer(
            book=book,
            wallet=rt.services.wallet,
            flow=rt.flows[rt.flow_name].flow,
            placer=TwilioPlacer(_FAKE_ACCOUNT, http_client=api),
            clock=clock,
            base_url=base_url,
            from_number=simulator.to,
            name="replay",
            rate=rt.settings.dial_rate,
            policy=RetryPolicy.of(rt.settings),
            lease=timedelta(seconds=rt.settings.callback_lease),
            sleep=self.clock.advance if self.clock is not None else time.sleep,
        )
        return api, dialer


def local_simulators(
    settings: Settings, *, isolated: bool, audio: bool | None = None
) -> LocalSimulators:
    """Build the app from ``settings`` in this process; simulators for it.

    ``isolated``: a private demo database in a new temporary folder and a clock fixed at
    ``IVR_CLOCK`` (or ``REPLAY_TIME``), both reset before every call. Otherwise the configured
    database and clock, with CallSids no earlier run used. ``audio`` False says every prompt
    (``IVR_AUDIO=off``), True plays every current recording, machine-made previews too
    (``IVR_AUDIO=all``, for ``ivr call --audio``); None leaves ``IVR_AUDIO`` as configured.
    Raises whatever ``create_app`` raises.
    """
    if audio is not None:
        settings = dataclasses.replace(settings, audio="all" if audio else "off")
    if not isolated:
        return LocalSimulators(create_app(settings=settings), first_call=random_first_call())
    folder = tempfile.mkdtemp(prefix="ivr-replay-")
    settings = dataclasses.replace(
        settings,
        database_url=f"sqlite:///{folder}/replay.sqlite3",
        # a private database of demo PINs: a key of its own, known to nobody, is enough
        pin_key=settings.pin_key or secrets.token_hex(32),
    )
    start = replay_start(settings)
    clock = ManualClock(start)
    return LocalSimulators(create_app(settings=settings, clock=clock), clock=clock, reset_to=start)


def replay_start(settings: Settings) -> datetime:
    """The time every replayed script starts at (unless it says ``at:``)."""
    return settings.clock or REPLAY_TIME


class ServerClock(ManualClock):
    """The simulator's clock, mirrored to a server started with ``ivr serve --demo-control``:
    every ``set`` and ``advance`` is posted to its control URL, so the server's time moves
    exactly as the simulated call's does (hold cycles, timeouts, ``at:``)."""

    def __init__(self, base_url: str, at: datetime, transport: HttpTransport) -> None:
        super().__init__(at)
        self.control_url = base_url + CONTROL_PATH
        self.transport = transport

    def set(self, at: datetime) -> None:
        super().set(at)
        self.post({"at": self.now().isoformat()})

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        self.post({"at": self.now().isoformat()})

    def reset_demo(self, at: datetime) -> None:
        """Set the server's clock to ``at`` and put its demo data back as it was."""
        super().set(at)
        self.post({"at": self.now().isoformat(), "reset": "1"})

    def post(self, form: dict[str, str]) -> None:
        reply = self.transport.send("POST", self.control_url, form, {})
        if reply.status != 200:
            raise SimulationError(
                f"the server's demo control at {self.control_url} answered {reply.status}: "
                f"{reply.body[:200].decode(errors='replace')}"
            )


def remote_simulators(
    url: str,
    *,
    auth_token: str | None,
    play_text: PlayText | None = None,
    control_from: datetime | None = None,
) -> SimulatorFactory:
    """Simulators for the server at ``url`` over HTTP, signing with ``auth_token`` when given.

    Each gets its own range of CallSids, starting at a random one per factory, so runs (and
    several people) never share a call on one server. ``play_text`` reads played prompts as
    text: the server's recordings, read from this checkout's library. With ``control_from``
    (a server started with ``--demo-control``), each simulator first sets the server's clock
    to that time and resets its demo data, then keeps the server's clock with its own.
    """
    base = url.rstrip("/")
    start = random_first_call()
    made = 0

    def make() -> Simulator:
        nonlocal made
        made += 1
        transport = HttpTransport()
        clock: ManualClock | None = None
        if control_from is not None:
            server = ServerClock(base, control_from, transport)
            server.reset_demo(control_from)
            clock = server
        return Simulator(
            transport,
            base_url=base,
            auth_token=auth_token,
            clock=clock,
            first_call=start + made * CALLS_PER_SIMULATOR,
            play_text=play_text,
        )

    return make


# --- parallel replay --------------------------------------------------------------------------


def _mapping_proxy(
    proxy: MappingProxyType[Any, Any],
) -> tuple[Callable[[dict[Any, Any]], MappingProxyType[Any, Any]], tuple[dict[Any, Any]]]:
    return read_only, (dict(proxy),)


def read_only(items: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    """A read-only view of ``items`` (how a mapping proxy is rebuilt after pickling)."""
    return MappingProxyType(items)


# A script's effect arguments are read-only mappings: they travel to the workers (and back
# in the results) as the dicts they wrap.
ForkingPickler.register(MappingProxyType, _mapping_proxy)

# Scripts a worker holds at once: the one it runs and the next, waiting in its pipe, so that it
# never waits for this process between two calls. The next is sent as a number (the scripts
# reached every worker once, at the start of the replay), so sending it never blocks.
_QUEUED = 2


def job_count(jobs: int | str) -> int:
    """How many processes ``--jobs`` asks for: a positive number as given, 0 or ``auto`` one
    per CPU. Raises ``ValueError`` for anything else."""
    if isinstance(jobs, str):
        jobs = 0 if jobs.strip().lower() == "auto" else int(jobs)
    if jobs < 0:
        raise ValueError(f"a number of jobs must be 0 (one per CPU) or more, not {jobs}")
    return jobs or os.cpu_count() or 1


class _Worker:
    """One worker process and this end of its pipe; ``busy``: scripts handed to it whose
    results have not come back."""

    def __init__(self, context: Any, settings: Settings) -> None:
        self.conn, theirs = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=serve_worker, args=(theirs, settings), name="ivr-replay", daemon=True
        )
        self.process.start()
        theirs.close()
        self.ready = False
        self.busy = 0

    def receive(self) -> Any:
        """The next message from the worker, past its ready note."""
        message = self._next()
        if message == _READY:
            self.ready = True
            message = self._next()
        return message

    def wait_ready(self) -> None:
        if not self.ready:
            message = self._next()
            if message != _READY:
                raise RuntimeError(f"a replay worker sent {message!r} before its ready note")
            self.ready = True

    def _next(self) -> Any:
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            self.process.join()
            raise RuntimeError(
                f"a replay worker stopped (exit code {self.process.exitcode}) "
                "before it sent back every result"
            ) from None


class ParallelRunner:
    """Runs call scripts in ``jobs`` worker processes, each with its own app and demo data.

    Call it with the loaded scripts (as ``replay`` does); it yields their results in order.
    Used as a context manager, its workers outlive one call (a benchmark's rounds); otherwise
    each call starts workers and stops them when its results are all in.

    The scripts go to every worker once per call; then each worker is told which to run, by
    number, one more whenever it sends a result back (which leaves it the script it has
    queued): whoever is free runs the next, so a long script does not hold the others up.
    A result comes back without its script, which this process has. No thread of this
    process waits on the workers: the caller's own loop reads their pipes when it needs the
    next result. A worker that dies fails the replay instead of leaving it waiting.
    """

    def __init__(self, settings: Settings, jobs: int) -> None:
        if jobs < 1:
            raise ValueError(f"at least one worker is needed, not {jobs}")
        self.settings = settings
        self.jobs = jobs
        self._workers: list[_Worker] = []
        self._kept = False  # used as a context manager: the workers outlive a call
        self._sent = 0  # scripts handed out so far: they number the simulators, as a factory does
        self._context = multiprocessing.get_context(
            "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        )

    def __enter__(self) -> ParallelRunner:
        self._kept = True
        self._start(self.jobs)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._kept = False
        self._stop()

    def wait_ready(self) -> None:
        """Wait until every worker has built its app (used as a context manager, between
        calls)."""
        for worker in self._workers:
            worker.wait_ready()

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids while they run (used as a context manager)."""
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    def __call__(self, scripts: Sequence[Script]) -> Iterator[ScriptResult]:
        if not scripts:
            return
        first = self._sent
        self._sent += len(scripts)
        if not self._workers:
            self._start(min(self.jobs, len(scripts)))
        delivered = 0  # results handed to the caller (who need not ask past the last one)
        try:
            for result in self._run(scripts, first):
                delivered += 1
                yield result
        finally:
            if delivered < len(scripts):
                # a result raised, or the caller stopped reading: what still runs must not
                # reach a later call, and a worker a script broke is not trusted with one
                # (the next call starts fresh workers, whether or not any was still busy).
                # Every result delivered means every worker answered all it was handed.
                self._stop(kill=True)
            elif not self._kept:
                self._stop()

    def _run(self, scripts: Sequence[Script], first: int) -> Iterator[ScriptResult]:
        workers = self._workers
        batch = bytes(ForkingPickler.dumps((first, list(scripts))))  # pickled once, for all
        for worker in workers:
            worker.conn.send_bytes(batch)
        handed = 0
        for _ in range(_QUEUED):
            for worker in workers:
                if handed < len(scripts):
                    worker.conn.send(handed)
                    worker.busy += 1
                    handed += 1
        done: dict[int, ScriptResult | BaseException] = {}
        for position in range(len(scripts)):
            while position not in done:
                for worker in self._waiting(workers):
                    index, outcome = worker.receive()
                    worker.busy -= 1
                    if handed < len(scripts):  # before anything else: keep it busy
                        worker.conn.send(handed)
                        worker.busy += 1
                        handed += 1
                    done[index] = _result(scripts[index], outcome)
            if handed == len(scripts) and not self._kept and not any(w.busy for w in workers):
                self._stop()  # every result is in: the workers of this call only can go
            result = done.pop(position)
            if isinstance(result, BaseException):
                raise result
            yield result

    @staticmethod
    def _waiting(workers: Sequence[_Worker]) -> list[_Worker]:
        """The busy workers that have sent a result (or died), once there is one."""
        busy = [worker for worker in workers if worker.busy]
        by_handle: dict[Any, _Worker] = {}
        for worker in busy:
            by_handle[worker.conn] = worker
            by_handle[worker.process.sentinel] = worker
        ready = wait(list(by_handle))
        return list(dict.fromkeys(by_handle[handle] for handle in ready))

    def _start(self, count: int) -> None:
        self._workers = [_Worker(self._context, self.settings) for _ in range(count)]

    def _stop(self, *, kill: bool = False) -> None:
        workers, self._workers = self._workers, []
        for worker in workers:
            if kill:
                worker.process.terminate()
            else:
                try:
                    worker.conn.send(None)
                except OSError:  # it is gone already
                    pass
        for worker in workers:
            worker.process.join()
            worker.conn.close()


def _result(
    script: Script, outcome: dict[str, Any] | tuple[BaseException, str]
) -> ScriptResult | BaseException:
    """A worker's answer for ``script``: its result, with the script put back, or the error
    it raised, with the worker's traceback in a note."""
    if isinstance(outcome, dict):
        return ScriptResult(script=script, **outcome)
    error, trace = outcome
    error.add_note(f"raised in a replay worker:\n{trace.rstrip()}")
    return error


# --- in each worker ---------------------------------------------------------------------------

_READY = "ready"
_worker: tuple[LocalSimulators, Mapping[str, EffectCheck]] | BaseException | None = None


def serve_worker(conn: Connection, settings: Settings) -> None:
    """A worker's life: build the app, say so, then run the scripts it is told to, each
    numbered from the batch it belongs to, and send back each result (without its script,
    which the parent has) or the error it raised, until told to stop (``None``)."""
    first, scripts = 0, []
    try:
        start_worker(settings)
        conn.send(_READY)
        while (message := conn.recv()) is not None:
            if isinstance(message, tuple):
                first, scripts = message
                continue
            conn.send((message, _outcome(first + message, scripts[message])))
    except (EOFError, KeyboardInterrupt):  # the parent went away, or Ctrl-C reached us all
        pass


def _outcome(index: int, script: Script) -> dict[str, Any] | tuple[BaseException, str]:
    try:
        result = _run_one((index, script))
    except Exception as error:
        trace = "".join(traceback.format_exception(error))
        try:  # it must come back whole, or as what it said
            pickle.loads(ForkingPickler.dumps(error))
        except Exception:
            error = RuntimeError(f"{type(error).__name__}: {error}")
        return error, trace
    return {
        f.name: getattr(result, f.name) for f in dataclasses.fields(result) if f.name != "script"
    }


def start_worker(settings: Settings) -> None:
    """Build this worker's isolated app. Its start-up warnings were the parent's too (the
    same settings), so they are not repeated. A failure is kept and raised by every script,
    in the parent."""
    global _worker
    logging.disable(logging.WARNING)
    try:
        local = local_simulators(settings, isolated=True)
        _worker = (local, wallet_checks(local.runtime.services.wallet, local.runtime.records))
        # What ivr.cli.server.settle_heap does for a server (see why there): the worker's
        # app lives as long as the worker, so no collection needs to walk it again.
        gc.collect()
        gc.freeze()
    except Exception as error:
        _worker = error
    finally:
        logging.disable(logging.NOTSET)


def _run_one(item: tuple[int, Script]) -> ScriptResult:
    """Run the script numbered ``index`` (from 0, counting every script this replay's runner
    has handed out) on a simulator numbered as a serial replay's ``index``-th one."""
    index, script = item
    if _worker is None or isinstance(_worker, BaseException):
        raise RuntimeError("the replay worker could not build its app") from _worker
    local, checks = _worker
    local.made = index  # the factory numbers CallSids by the simulators it made before
    return run_script(script, local(), checks=checks)
