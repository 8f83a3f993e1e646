"""Parallel replay: call scripts run in worker processes, reported as a serial replay reports.

Owns ``ParallelRunner`` (a ``ScriptRunner`` for ``ivr.testing.replay.replay``: the scripts
spread over N worker processes, their results handed back in the order of the files, each as
soon as it and those before it are done) and ``job_count`` (what ``--jobs`` means: a number,
or 0 or ``auto`` for one worker per CPU).

Each worker builds its own isolated app with ``local_simulators(settings, isolated=True)``:
a private demo database in a temporary folder of its own, its own fixed clock, the demo data
and the callback requests put back before every call, exactly as a serial replay does. A
script gets the CallSids it gets in a serial replay (from its place among the scripts run),
so what it hears does not depend on the worker that ran it; coverage is computed from the
results, so it covers every worker's calls. Workers are forked where the platform can (they
inherit the imports), spawned elsewhere.

Sits in ``testing`` above ``web``: it builds apps through ``ivr.testing.factories``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from multiprocessing.pool import Pool
from multiprocessing.reduction import ForkingPickler
from types import MappingProxyType
from types import TracebackType
from typing import Any

from ivr.hotline.checks import wallet_checks
from ivr.settings import Settings
from ivr.testing.factories import LocalSimulators
from ivr.testing.factories import local_simulators
from ivr.testing.scripts import EffectCheck
from ivr.testing.scripts import Script
from ivr.testing.scripts import ScriptResult
from ivr.testing.scripts import run_script


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


def job_count(jobs: int | str) -> int:
    """How many processes ``--jobs`` asks for: a positive number as given, 0 or ``auto`` one
    per CPU. Raises ``ValueError`` for anything else."""
    if isinstance(jobs, str):
        jobs = 0 if jobs.strip().lower() == "auto" else int(jobs)
    if jobs < 0:
        raise ValueError(f"a number of jobs must be 0 (one per CPU) or more, not {jobs}")
    return jobs or os.cpu_count() or 1


class ParallelRunner:
    """Runs call scripts in ``jobs`` worker processes, each with its own app and demo data.

    Call it with the loaded scripts (as ``replay`` does); it yields their results in order.
    Used as a context manager, its workers outlive one call (a benchmark's rounds); otherwise
    each call starts workers and stops them when its results are all in.
    """

    def __init__(self, settings: Settings, jobs: int) -> None:
        if jobs < 1:
            raise ValueError(f"at least one worker is needed, not {jobs}")
        self.settings = settings
        self.jobs = jobs
        self._pool: Pool | None = None
        self._sent = 0  # scripts handed out so far: they number the simulators, as a factory does
        self._context = multiprocessing.get_context(
            "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        )
        self._ready: multiprocessing.SimpleQueue[int] = self._context.SimpleQueue()

    def __enter__(self) -> ParallelRunner:
        self._pool = self._start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._pool is not None:
            _stop(self._pool)
            self._pool = None

    def wait_ready(self) -> None:
        """Wait until every worker has built its app (used as a context manager)."""
        for _ in range(len(self.pids)):
            self._ready.get()

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids while they run (used as a context manager)."""
        workers = getattr(self._pool, "_pool", None) or []
        return [worker.pid for worker in workers if worker.pid is not None]

    def __call__(self, scripts: Sequence[Script]) -> Iterator[ScriptResult]:
        if not scripts:
            return
        numbered = enumerate(scripts, start=self._sent)
        self._sent += len(scripts)
        if self._pool is not None:
            yield from self._pool.imap(_run_one, numbered, chunksize=1)
            return
        pool = self._start(len(scripts))
        try:
            yield from pool.imap(_run_one, numbered, chunksize=1)
        finally:
            _stop(pool)

    def _start(self, most: int | None = None) -> Pool:
        processes = min(self.jobs, most) if most is not None else self.jobs
        started = (self.settings, self._ready if most is None else None)
        return self._context.Pool(processes, initializer=start_worker, initargs=started)


def _stop(pool: Pool) -> None:
    pool.close()
    pool.join()


# --- in each worker ---------------------------------------------------------------------------

_worker: tuple[LocalSimulators, Mapping[str, EffectCheck]] | BaseException | None = None


def start_worker(settings: Settings, ready: multiprocessing.SimpleQueue[int] | None) -> None:
    """Build this worker's isolated app, then say so on ``ready``. Its start-up warnings were
    the parent's too (the same settings), so they are not repeated. A failure is kept and
    raised by the first script, in the parent: a pool whose workers fail to start would
    start them forever."""
    global _worker
    logging.disable(logging.WARNING)
    try:
        local = local_simulators(settings, isolated=True)
        _worker = (local, wallet_checks(local.runtime.services.wallet, local.runtime.records))
    except Exception as error:
        _worker = error
    finally:
        logging.disable(logging.NOTSET)
        if ready is not None:
            ready.put(os.getpid())


def _run_one(item: tuple[int, Script]) -> ScriptResult:
    """Run the script numbered ``index`` (from 0, counting every script this replay's runner
    has handed out) on a simulator numbered as a serial replay's ``index``-th one."""
    index, script = item
    if _worker is None or isinstance(_worker, BaseException):
        raise RuntimeError("the replay worker could not build its app") from _worker
    local, checks = _worker
    local.made = index  # the factory numbers CallSids by the simulators it made before
    return run_script(script, local(), checks=checks)
