"""The callback dialer: which callbacks are due, placing them paced and capped, and settling
each attempt (a retry after a delay, or a ticket after the last).

Owns ``Dialer`` (what ``ivr callbacks run`` repeats), ``RetryPolicy`` and ``settle``, which
the dialer and the status-callback webhook (``ivr.web.voice``) both use, so an attempt ends
the same way whoever hears of it first. A callback is due when its queue is open now (the
answering flow's ``hours``, per queue, holidays closed) and neither its preferred time (the
opening it was booked for) nor its retry time is still ahead. At most ``rate`` calls are
placed per second, and a queue has at most as many callbacks in progress as it has agents
(``queues.<name>.agents``).

Restart safety: a claim is a lease. Twilio reports every placed call's end on the status
callback (``/voice/callback/status?attempt=…``), which settles the attempt whichever dialer
(or none) is running. A lease that runs out means the dialer died: if the call was placed
(its CallSid is known), Twilio is asked how it stands, and the attempt is settled with that
or the lease extended while the call goes on; if no CallSid was ever noted and no status
callback came within the lease (longer than the ring time), no call was placed, and the
attempt is settled as ``lost`` and dialled again. So a callback is never lost and never
dialled twice. Knows nothing of Flask or TwiML; talks to Twilio only through a ``Placer``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta
from urllib.parse import urlencode

from ivr.clock import Clock
from ivr.errors import DialProblem
from ivr.flow.spec import Flow
from ivr.phones import mask_phone
from ivr.settings import Settings
from ivr.stores.callbacks import CallbackAttempt
from ivr.stores.callbacks import CallbackBook
from ivr.stores.callbacks import CallbackRequest
from ivr.stores.callbacks import Claim
from ivr.stores.callbacks import Settled
from ivr.telephony.calls import FINAL_STATUSES
from ivr.telephony.calls import OutboundCall
from ivr.telephony.calls import Placer
from ivr.wallet import Wallet

log = logging.getLogger(__name__)

# The webhooks of a callback call, relative to the public base URL (ivr.web.voice).
ANSWER_PATH = "/voice/callback"
STATUS_PATH = "/voice/callback/status"
# While a person is on the call, the claim is held this long (the status callback ends it).
CALL_LEASE = timedelta(hours=1)


@dataclass(frozen=True)
class RetryPolicy:
    """How often a callback is tried, and how long apart."""

    max_attempts: int = 3
    retry_after: timedelta = timedelta(minutes=10)

    @classmethod
    def of(cls, settings: Settings) -> RetryPolicy:
        return cls(settings.callback_attempts, timedelta(seconds=settings.callback_retry))


def settle(
    book: CallbackBook,
    wallet: Wallet,
    attempt_id: int,
    call_status: str,
    policy: RetryPolicy,
    *,
    call_sid: str | None = None,
) -> Settled | None:
    """End an attempt with Twilio's final ``call_status`` (or ``lost``): the request is done,
    tried again later, or, after its last attempt, a ticket for an agent to follow up. None
    when the attempt was settled already (a duplicate status callback)."""
    settled = book.settle(
        attempt_id,
        call_status,
        retry_after=policy.retry_after,
        max_attempts=policy.max_attempts,
        call_sid=call_sid,
    )
    if settled is None:
        return None
    request = settled.request
    log.info(
        "callback %s (%s): attempt %s %s; now %s",
        request.id,
        mask_phone(request.phone),
        settled.attempt.number,
        settled.outcome,
        settled.status,
    )
    if settled.last:
        outcomes = ", ".join(a.outcome or "?" for a in book.attempts(request.id))
        ticket = wallet.open_ticket(
            kind="callback",
            summary=(
                f"callback about {request.issue or 'an unspecified issue'} not reached after "
                f"{request.attempts} attempts ({outcomes}); call the customer"
            ),
            key=f"callback:{request.id}",
            account_id=request.account_id,
            caller_phone=request.phone,
        )
        book.note_ticket(request.id, ticket.number)
        log.warning("callback %s: out of attempts; ticket %s", request.id, ticket.number)
    return settled


@dataclass(frozen=True)
class Placed:
    """One call the dialer placed (or, on a dry run, would place)."""

    request: CallbackRequest
    attempt: CallbackAttempt  # a dry run's has id 0
    call: OutboundCall
    call_sid: str | None  # None on a dry run or when Twilio refused
    at: float  # seconds since the dialer started (its clock)
    problem: str | None = None

    def describe(self) -> str:
        verb = "would call" if self.call_sid is None and self.problem is None else "called"
        if self.problem is not None:
            verb = "could not call"
        reason = f" about {self.request.issue}" if self.request.issue else ""
        line = (
            f"{verb} {mask_phone(self.request.phone)} for {self.request.queue}{reason} "
            f"(callback {self.request.id}, attempt {self.attempt.number})"
        )
        return f"{line}: {self.problem}" if self.problem else line


@dataclass
class Dialer:
    """Places due callbacks. ``flow`` is the answering flow (its hours and queues); ``name``
    tells this dialer's claims from another's. ``sleep`` waits (tests pass one that moves a
    manual clock)."""

    book: CallbackBook
    wallet: Wallet
    flow: Flow
    placer: Placer
    clock: Clock
    base_url: str
    from_number: str
    name: str = "dialer"
    rate: float = 1.0
    policy: RetryPolicy = RetryPolicy()
    lease: timedelta = timedelta(minutes=2)
    sleep: Callable[[float], None] = time.sleep
    _started: float | None = field(default=None, init=False)
    _last: float | None = field(default=None, init=False)
    _reported: set[tuple[int, int]] = field(default_factory=set, init=False)

    # -- what is due --------------------------------------------------------------------------

    def due(self, request: CallbackRequest) -> bool:
        """Whether ``request`` may be dialled now: its time has come and its queue is open."""
        now = self.clock.now()
        if request.status != "pending" or request.earliest() > now:
            return False
        return self.flow.hours_of(request.queue).is_open(now)

    def cap(self, queue: str) -> int:
        """Callbacks of ``queue`` that may be in progress at once: its agents."""
        found = self.flow.queues.get(queue)
        return found.settings.agents if found is not None else 1

    # -- one round ----------------------------------------------------------------------------

    def run_once(self) -> list[Placed]:
        """Settle claims whose lease ran out, then place every due callback the caps allow,
        paced. On a dry run nothing is claimed or placed: the due callbacks are reported."""
        if self.placer.dry_run:
            return self._dry_run()
        self.recover()
        placed: list[Placed] = []
        while True:
            claims = self.book.claim(self.name, lease=self.lease, due=self.due, cap=self.cap)
            if not claims:
                return placed
            self._pace()  # within the claim's lease: a wait is 1/rate seconds at most
            placed.append(self._place(claims[0]))

    def run(
        self,
        *,
        max_time: float | None = None,
        once: bool = False,
        poll: float = 5.0,
        report: Callable[[list[Placed]], None] | None = None,
    ) -> int:
        """Repeat ``run_once`` every ``poll`` seconds until ``max_time`` seconds have passed
        (None: for ever) or, with ``once``, after one round; ``report`` hears each round's
        calls. The number of calls placed (or, on a dry run, that would be)."""
        start = self.clock.now()
        total = 0
        while True:
            placed = self.run_once()
            total += sum(1 for p in placed if p.problem is None)
            if report is not None:
                report(placed)
            spent = (self.clock.now() - start).total_seconds()
            if once or (max_time is not None and spent + poll > max_time):
                return total
            self.sleep(poll)

    def recover(self) -> list[Settled]:
        """Claims whose lease ran out (their dialer died, or Twilio's status callback did
        not come): settled from Twilio's own status, or as ``lost`` when no call was placed."""
        settled: list[Settled] = []
        for claim in self.book.expired():
            sid = claim.attempt.call_sid
            if sid is None:
                status: str | None = "lost"
            else:
                try:
                    status = self.placer.status(sid)
                except DialProblem as exc:
                    log.warning("callback %s: call %s unknown: %s", claim.request.id, sid, exc)
                    continue  # asked again next round
            if status is None or status not in FINAL_STATUSES | {"lost"}:
                self.book.extend(claim.request.id, lease=self.lease)
                continue
            done = settle(self.book, self.wallet, claim.attempt.id, status, self.policy)
            if done is not None:
                settled.append(done)
        return settled

    # -- placing ------------------------------------------------------------------------------

    def outbound(self, claim: Claim) -> OutboundCall:
        query = urlencode({"attempt": claim.attempt.id})
        return OutboundCall(
            to=claim.request.phone,
            from_=self.from_number,
            url=f"{self.base_url}{ANSWER_PATH}?{query}",
            status_callback=f"{self.base_url}{STATUS_PATH}?{query}",
        )

    def _place(self, claim: Claim) -> Placed:
        call = self.outbound(claim)
        at = self._mark()
        try:
            sid = self.placer.place(call)
        except DialProblem as exc:
            log.warning("callback %s: %s", claim.request.id, exc)
            # Twilio refusing the call itself (a number it cannot ring, say) will not pass:
            # straight to a ticket. A server error or the network may: retried as usual.
            policy = self.policy if exc.retry else RetryPolicy(0, self.policy.retry_after)
            settle(self.book, self.wallet, claim.attempt.id, "failed", policy)
            return Placed(claim.request, claim.attempt, call, None, at, str(exc))
        self.book.placed(claim.attempt.id, sid)
        log.info("callback %s: %s (%s)", claim.request.id, call.describe(), sid)
        return Placed(claim.request, claim.attempt, call, sid, at)

    def _dry_run(self) -> list[Placed]:
        busy = dict(self.book.in_progress())
        would: list[Placed] = []
        for request in self.book.pending():
            if not self.due(request) or busy.get(request.queue, 0) >= self.cap(request.queue):
                continue
            busy[request.queue] = busy.get(request.queue, 0) + 1
            key = (request.id, request.attempts + 1)
            if key in self._reported:
                continue
            self._reported.add(key)
            fake = Claim(request, _no_attempt(request))
            at = self._elapsed() + len(would) / self.rate
            would.append(Placed(request, fake.attempt, self.outbound(fake), None, at))
        return would

    def _pace(self) -> None:
        """Wait until the next call may be placed (1/rate seconds after the last)."""
        if self._last is None:
            return
        wait = self._last + 1 / self.rate - self._elapsed()
        if wait > 0:
            self.sleep(wait)

    def _mark(self) -> float:
        self._last = self._elapsed()
        return self._last

    def _elapsed(self) -> float:
        now = self.clock.now().timestamp()
        if self._started is None:
            self._started = now
        return now - self._started


def _no_attempt(request: CallbackRequest) -> CallbackAttempt:
    """The attempt a dry run would make (no row exists: id 0)."""
    number = request.attempts + 1
    when = request.requested_at
    return CallbackAttempt(0, request.id, number, "dry-run", when, None, None, None, None)
