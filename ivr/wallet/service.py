"""The wallet service: what the hotline may read and change about a customer's wallet.

Owns ``Wallet`` and the frozen dataclasses it returns (never ORM rows, never a PIN hash).
Every method runs its own short transaction on the injected engine and asks the injected
clock for the time; a method that is one statement (every read, queuing an SMS) runs it on
``ivr.db.one_statement`` (autocommit on PostgreSQL: no BEGIN and ROLLBACK round trips).
Changes a caller triggers (unlock, protective freeze, tickets, SMS) are idempotent on a
caller-supplied key, enforced by unique constraints so that it holds across processes.
Must not import Flask, the flow engine or the session store.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import time
from datetime import timedelta
from typing import Any
from typing import cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from ivr.clock import Clock
from ivr.db import UtcDateTime
from ivr.db import from_row
from ivr.db import one_statement
from ivr.errors import AccountNotFound
from ivr.phones import to_e164
from ivr.wallet.pins import PinKeys
from ivr.wallet.pins import stored_key_id
from ivr.wallet.tables import IN_GOOD_STANDING
from ivr.wallet.tables import AccountEventRow
from ivr.wallet.tables import AccountRow
from ivr.wallet.tables import AccountStatus
from ivr.wallet.tables import LockReason
from ivr.wallet.tables import PaymentFailure
from ivr.wallet.tables import PaymentRow
from ivr.wallet.tables import PaymentStatus
from ivr.wallet.tables import RefundRow
from ivr.wallet.tables import RefundStatus
from ivr.wallet.tables import SmsRow
from ivr.wallet.tables import TicketKind
from ivr.wallet.tables import TicketRow
from ivr.wallet.tables import TicketStatus
from ivr.wallet.tables import TopUpRow
from ivr.wallet.tables import TopUpStatus
from ivr.wallet.tables import ticket_number

log = logging.getLogger(__name__)

# "Today" for spending limits is the customer's calendar day in mainland China.
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
PIN_ATTEMPTS = 3
PIN_LOCKOUT = timedelta(minutes=30)
# What a PIN keyed for an unregistered number is checked against (it matches no PIN).
_DECOY_PIN = "decoy-never-a-6-digit-pin"

_SEPARATORS = re.compile(r"[\s\-]+")  # in a ticket number as a caller reads it out


@dataclass(frozen=True)
class Account:
    id: int
    phone: str
    name_zh: str
    name_en: str
    status: AccountStatus
    lock_reason: LockReason | None
    lock_detail_zh: str | None
    lock_detail_en: str | None
    locked_at: datetime | None
    self_unlock_allowed: bool
    failed_password_attempts: int
    balance_fen: int
    daily_limit_fen: int
    per_payment_limit_fen: int


@dataclass(frozen=True)
class Payment:
    id: int
    account_id: int
    amount_fen: int
    merchant_zh: str
    merchant_en: str
    status: PaymentStatus
    failure_reason: PaymentFailure | None
    created_at: datetime


@dataclass(frozen=True)
class TopUp:
    id: int
    account_id: int
    amount_fen: int
    card_last4: str
    status: TopUpStatus
    created_at: datetime


@dataclass(frozen=True)
class Refund:
    id: int
    account_id: int
    amount_fen: int
    merchant_zh: str
    merchant_en: str
    status: RefundStatus
    requested_at: datetime
    expected_at: datetime | None


@dataclass(frozen=True)
class Ticket:
    id: int
    number: str
    account_id: int | None
    kind: TicketKind
    status: TicketStatus
    summary: str
    recording_url: str | None
    caller_phone: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SmsMessage:
    id: int
    account_id: int
    to_phone: str
    body: str
    created_at: datetime


@dataclass(frozen=True)
class Limits:
    daily_fen: int
    per_payment_fen: int
    spent_today_fen: int


@dataclass(frozen=True)
class Caller:
    """A registered caller as one read of the account row finds them: the account, and when
    its PIN checks open again if they were locked at that moment (else None). What the start
    of a call needs, so that it reads the row once rather than once per question."""

    account: Account
    pin_locked_until: datetime | None


@dataclass(frozen=True)
class PinCheck:
    """The outcome of one PIN check. ``locked_until`` is set while verification is locked.
    ``unchecked``: the stored hash cannot be checked here (made with a key the server lacks),
    so the PIN was neither accepted nor counted as wrong."""

    ok: bool
    failures: int
    locked_until: datetime | None
    unchecked: bool = False


def normalize_phone(text: str) -> str | None:
    """E.164 form of a phone number as a caller or Twilio writes it, or None if it is not one.

    Accepts ``+8613800000001``, ``8613800000001``, the bare mainland mobile ``13800000001``
    and landline ``010-12345678``, and any valid ``+`` number, with spaces or dashes anywhere
    (``ivr.phones.to_e164``, which stored phones are written in).
    """
    return to_e164(text)


class Wallet:
    """The wallet of every customer, on one database. Safe to share between threads.

    ``pins`` are the keys PIN hashes are made and checked with (``IVR_PIN_KEY``); without
    them, the published development key (``PinKeys.for_development``).
    """

    def __init__(self, engine: sa.Engine, clock: Clock, pins: PinKeys | None = None) -> None:
        self._clock = clock
        self._engine = engine
        self._one = one_statement(engine)  # one statement: reads, the SMS outbox's insert
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._pins = pins or PinKeys.for_development()
        self._decoy = self._pins.hash(_DECOY_PIN)

    # -- accounts -------------------------------------------------------------------------

    def find_by_phone(self, phone: str) -> Account | None:
        caller = self.caller(phone)
        return None if caller is None else caller.account

    def caller(self, phone: str) -> Caller | None:
        """The account registered to ``phone`` and its PIN lock, in one read; None if none."""
        number = normalize_phone(phone)
        if number is None:
            return None
        now = self._clock.now()
        with self._one.connect() as conn:
            row = conn.execute(_ACCOUNT_BY_PHONE, {"b_phone": number}).first()
        if row is None:
            return None
        return Caller(from_row(Account, row), _locked_at(row.pin_locked_until, now))

    def account(self, account_id: int) -> Account:
        with self._one.connect() as conn:
            return from_row(Account, _account_row(conn, account_id))

    def verify_pin(self, account_id: int, pin: str) -> PinCheck:
        """Check ``pin``; 3 wrong in a row lock verification for 30 minutes.

        Counters change in one conditional UPDATE each, so concurrent checks cannot lose a
        failure or slip past a lock another check has just set. A right PIN whose stored hash
        is of an older kind (scrypt, or an old key) is hashed again with the current key in
        that same UPDATE.
        """
        now = self._clock.now()
        with self._engine.begin() as conn:  # one transaction: the read, then one UPDATE
            row = _pin_state(conn, account_id)
            stored, failures, locked_until = row.pin_hash, row.pin_failures, row.pin_locked_until
            if locked_until is not None and locked_until > now:
                return PinCheck(ok=False, failures=failures, locked_until=locked_until)
            if not self._pins.can_check(stored):
                # Not the caller's mistake: no PIN would match, so none counts as wrong.
                named = stored_key_id(stored)
                log.error(
                    "account %s: its PIN hash cannot be checked here (%s); set "
                    "IVR_PIN_KEY_OLD to the key that made it, or reset the PIN (`ivr demo "
                    "reset` for the demo accounts)",
                    account_id,
                    f"made with key id {named}, which is not IVR_PIN_KEY or IVR_PIN_KEY_OLD"
                    if named
                    else "not a PIN hash this version reads",
                )
                return PinCheck(ok=False, failures=failures, locked_until=None, unchecked=True)
            ok = self._pins.matches(pin, stored)
            params: dict[str, Any] = {"b_id": account_id, "b_now": now}
            if not ok:
                stmt = _PIN_WRONG
                params["b_lock_until"] = now + PIN_LOCKOUT
            elif self._pins.needs_upgrade(stored):
                stmt = _PIN_RIGHT_REHASHED
                params["b_hash"] = self._pins.hash(pin)
            else:
                stmt = _PIN_RIGHT
            updated = conn.execute(stmt, params).first()
            if updated is None:
                # Another check locked verification (or the account vanished) meanwhile.
                row = _pin_state(conn, account_id)
                return PinCheck(
                    ok=False, failures=row.pin_failures, locked_until=row.pin_locked_until
                )
        return PinCheck(ok=ok, failures=updated.pin_failures, locked_until=updated.pin_locked_until)

    def pin_locked_until(self, account_id: int) -> datetime | None:
        """When PIN checks on the account open again, while they are locked; else None."""
        now = self._clock.now()
        with self._one.connect() as conn:
            locked_until = _pin_state(conn, account_id).pin_locked_until
        return _locked_at(locked_until, now)

    def refuse_pin(self, pin: str) -> PinCheck:
        """A PIN keyed for a number no account is registered to: refused after the same work
        a real check does (one keyed hash), so neither the answer nor its timing tells the two
        apart."""
        self._pins.matches(pin, self._decoy)
        return PinCheck(ok=False, failures=0, locked_until=None)

    def unlock(self, account_id: int, *, key: str) -> bool:
        """Lift a lock from too many wrong passwords, if the caller may do so themselves.

        True when the account was unlocked now or by an earlier call with ``key``; False when
        this account may not be unlocked this way (another lock reason, or not locked).

        The change and its event are one transaction of two statements; an earlier call with
        ``key`` is found afterwards, only when this one changed nothing (its account is no
        longer locked) or met the key's unique constraint (which rolled the change back).
        """
        now = self._clock.now()
        event = {"b_id": account_id, "b_kind": "unlocked", "b_now": now, "b_key": key}
        unlocked = False
        try:
            with self._engine.begin() as conn:
                if conn.execute(_UNLOCK, {"b_id": account_id}).first() is not None:
                    conn.execute(_RECORD_EVENT, event)
                    unlocked = True
        except IntegrityError:
            unlocked = False  # the key is already recorded: the whole change was rolled back
        if unlocked or self._event_recorded(key):
            # An earlier or concurrent call with the same key unlocked it: that still counts.
            return True
        self.account(account_id)  # raises AccountNotFound for an unknown account
        return False

    def protective_freeze(self, account_id: int, *, key: str) -> None:
        """Freeze an account whose owner reports the phone lost or stolen.

        One transaction: the freeze, then its event. A second call with ``key`` meets the
        event's unique constraint, which rolls its freeze back: the first one stands.
        """
        now = self._clock.now()
        event = {"b_id": account_id, "b_kind": "protective_freeze", "b_now": now, "b_key": key}
        try:
            with self._engine.begin() as conn:
                if conn.execute(_FREEZE, {"b_id": account_id, "b_now": now}).first() is None:
                    raise AccountNotFound(account_id)
                conn.execute(_RECORD_EVENT, event)
        except IntegrityError:
            return  # an earlier or concurrent call with the same key froze it

    # -- payments, top-ups, refunds -------------------------------------------------------

    def latest_failed_payment(self, account_id: int) -> Payment | None:
        with self._one.connect() as conn:
            row = conn.execute(_LATEST_FAILED_PAYMENT, {"b_id": account_id}).first()
        return None if row is None else from_row(Payment, row)

    def open_topups(self, account_id: int) -> list[TopUp]:
        """Top-ups still pending or failed, newest first."""
        with self._one.connect() as conn:
            rows = conn.execute(_OPEN_TOPUPS, {"b_id": account_id}).all()
        return [from_row(TopUp, row) for row in rows]

    def refunds(self, account_id: int) -> list[Refund]:
        """Every refund: those in progress first, then newest first."""
        with self._one.connect() as conn:
            rows = conn.execute(_REFUNDS, {"b_id": account_id}).all()
        return [from_row(Refund, row) for row in rows]

    def count_transactions_since(self, account_id: int, since: datetime) -> int:
        """Payments and top-ups (any status) created at or after ``since``."""
        with self._one.connect() as conn:
            row = conn.execute(_TRANSACTIONS_SINCE, {"b_id": account_id, "b_since": since}).one()
        return int(row.payments or 0) + int(row.topups or 0)

    def limits(self, account_id: int) -> Limits:
        """The limits, and what succeeded payments used since midnight in Shanghai."""
        since = start_of_local_day(self._clock.now())
        with self._one.connect() as conn:  # one statement: the limits and the sum together
            row = conn.execute(_LIMITS, {"b_id": account_id, "b_since": since}).first()
        if row is None:
            raise AccountNotFound(account_id)
        return Limits(
            daily_fen=row.daily_limit_fen,
            per_payment_fen=row.per_payment_limit_fen,
            spent_today_fen=int(row.spent or 0),
        )

    # -- tickets and SMS ------------------------------------------------------------------

    def open_ticket(
        self,
        *,
        kind: TicketKind,
        summary: str,
        key: str,
        account_id: int | None = None,
        caller_phone: str | None = None,
        recording_url: str | None = None,
    ) -> Ticket:
        """Open a ticket, or return the one already opened with ``key``.

        One transaction: the insert (under a placeholder number), then the number derived
        from its id. An earlier call with ``key`` is found when the key's unique constraint
        refuses the insert.
        """
        now = self._clock.now()
        values = {
            # Placeholder until the id is known; never visible outside this transaction.
            "b_number": f"pending-{uuid.uuid4().hex}",
            "b_id": account_id,
            "b_kind": kind,
            "b_summary": summary,
            "b_recording": recording_url,
            "b_phone": caller_phone,
            "b_now": now,
            "b_key": key,
        }
        try:
            with self._engine.begin() as conn:
                ticket_id = conn.execute(_INSERT_TICKET, values).scalar_one()
                number = {"b_ticket": ticket_id, "b_number": ticket_number(ticket_id)}
                row = conn.execute(_NUMBER_TICKET, number).one()
            return from_row(Ticket, row)
        except IntegrityError:
            # Either an earlier or concurrent call inserted this key, or account_id is unknown.
            existing = self._ticket_by_key(key)
            if existing is not None:
                return existing
            if account_id is not None:
                self.account(account_id)
            raise

    def ticket(self, number: str) -> Ticket | None:
        """The ticket with this number as a caller reads it out (spaces and dashes ignored)."""
        compact = _SEPARATORS.sub("", number)
        if not compact.isascii() or not compact.isdigit():
            return None
        with self._one.connect() as conn:
            row = conn.execute(_TICKET_BY_NUMBER, {"b_number": compact}).first()
        return None if row is None else from_row(Ticket, row)

    def tickets(self, account_id: int) -> list[Ticket]:
        """The account's tickets, newest first."""
        with self._one.connect() as conn:
            rows = conn.execute(_TICKETS, {"b_id": account_id}).all()
        return [from_row(Ticket, row) for row in rows]

    def send_sms(self, account_id: int, body: str, *, key: str) -> SmsMessage:
        """Queue an SMS to the account's phone in the outbox (nothing is sent from here), or
        return the one already queued with ``key``.

        One statement: the insert reads the phone from the account row itself. An earlier
        call with ``key`` is found when the key's unique constraint refuses the insert.
        """
        values = {"b_id": account_id, "b_body": body, "b_now": self._clock.now(), "b_key": key}
        try:
            with self._one.begin() as conn:
                row = conn.execute(_QUEUE_SMS, values).first()
        except IntegrityError:
            row = None
        if row is not None:
            return from_row(SmsMessage, row)
        existing = self._sms_by_key(key)
        if existing is None:
            raise AccountNotFound(account_id)  # no account row, so nothing was inserted
        return existing

    def outbox(self, account_id: int | None = None) -> list[SmsMessage]:
        """Queued SMS messages, oldest first; all of them, or one account's."""
        stmt = sa.select(SmsRow).order_by(SmsRow.created_at, SmsRow.id)
        if account_id is not None:
            stmt = stmt.where(SmsRow.account_id == account_id)
        with self._sessions() as s:
            return [from_row(SmsMessage, row) for row in s.scalars(stmt)]

    # -- by idempotency key ---------------------------------------------------------------

    def _event_recorded(self, key: str) -> bool:
        with self._one.connect() as conn:
            return conn.execute(_EVENT_BY_KEY, {"b_key": key}).first() is not None

    def _ticket_by_key(self, key: str) -> Ticket | None:
        with self._one.connect() as conn:
            row = conn.execute(_TICKET_BY_KEY, {"b_key": key}).first()
        return None if row is None else from_row(Ticket, row)

    def _sms_by_key(self, key: str) -> SmsMessage | None:
        with self._one.connect() as conn:
            row = conn.execute(_SMS_BY_KEY, {"b_key": key}).first()
        return None if row is None else from_row(SmsMessage, row)


def start_of_local_day(now: datetime) -> datetime:
    """Midnight (Asia/Shanghai) of the day ``now`` falls in, as a UTC datetime."""
    local_date = now.astimezone(LOCAL_ZONE).date()
    return datetime.combine(local_date, time(0), tzinfo=LOCAL_ZONE).astimezone(UTC)


# What every call runs (who is calling, the PIN check), built once with bound parameters: building
# and keying a statement per call cost more CPU than the database took to run it.
_ACCOUNTS = cast(sa.Table, AccountRow.__table__)
_ACCOUNT = sa.select(_ACCOUNTS).where(_ACCOUNTS.c.id == sa.bindparam("b_id"))
_ACCOUNT_BY_PHONE = sa.select(_ACCOUNTS).where(_ACCOUNTS.c.phone == sa.bindparam("b_phone"))
# The self-help look-ups, built once (building and keying a statement per call costs CPU), in
# SQLAlchemy Core: rows straight into the dataclasses, no ORM session per query.
_PAYMENTS, _TOPUPS, _REFUNDS_T, _TICKETS_T = (
    PaymentRow.__table__,
    TopUpRow.__table__,
    RefundRow.__table__,
    TicketRow.__table__,
)
_BY_ACCOUNT: sa.BindParameter[int] = sa.bindparam("b_id")
_LATEST_FAILED_PAYMENT = (
    sa.select(_PAYMENTS)
    .where(_PAYMENTS.c.account_id == _BY_ACCOUNT, _PAYMENTS.c.status == "failed")
    .order_by(_PAYMENTS.c.created_at.desc(), _PAYMENTS.c.id.desc())
    .limit(1)  # the newest only: the index gives it first, with no sort
)
_OPEN_TOPUPS = (
    sa.select(_TOPUPS)
    .where(_TOPUPS.c.account_id == _BY_ACCOUNT, _TOPUPS.c.status.in_(["pending", "failed"]))
    .order_by(_TOPUPS.c.created_at.desc(), _TOPUPS.c.id.desc())
)
_REFUNDS = (
    sa.select(_REFUNDS_T)
    .where(_REFUNDS_T.c.account_id == _BY_ACCOUNT)
    .order_by(
        sa.case((_REFUNDS_T.c.status == "in_progress", 0), else_=1),  # in progress first
        _REFUNDS_T.c.requested_at.desc(),
        _REFUNDS_T.c.id.desc(),
    )
)
_SPENT_SINCE = (
    sa.select(sa.func.coalesce(sa.func.sum(_PAYMENTS.c.amount_fen), 0))
    .where(
        _PAYMENTS.c.account_id == _ACCOUNTS.c.id,
        _PAYMENTS.c.status == "succeeded",
        _PAYMENTS.c.created_at >= sa.bindparam("b_since", type_=UtcDateTime()),
    )
    .correlate(_ACCOUNTS)
    .scalar_subquery()
)
# The account's limits and what it spent since ``b_since``: one statement, one round trip.
_LIMITS = sa.select(
    _ACCOUNTS.c.daily_limit_fen,
    _ACCOUNTS.c.per_payment_limit_fen,
    _SPENT_SINCE.label("spent"),
).where(_ACCOUNTS.c.id == _BY_ACCOUNT)
_TICKET_BY_NUMBER = sa.select(_TICKETS_T).where(_TICKETS_T.c.number == sa.bindparam("b_number"))
_TICKETS = (
    sa.select(_TICKETS_T)
    .where(_TICKETS_T.c.account_id == _BY_ACCOUNT)
    .order_by(_TICKETS_T.c.created_at.desc(), _TICKETS_T.c.id.desc())
)
# What a PIN check reads: the hash and the counters, not the whole row.
_PIN_STATE = sa.select(
    _ACCOUNTS.c.pin_hash, _ACCOUNTS.c.pin_failures, _ACCOUNTS.c.pin_locked_until
).where(_ACCOUNTS.c.id == sa.bindparam("b_id"))
# A non-null lock that passes this is an expired one.
_PIN_NOT_LOCKED = sa.or_(
    _ACCOUNTS.c.pin_locked_until.is_(None),
    _ACCOUNTS.c.pin_locked_until <= sa.bindparam("b_now", type_=UtcDateTime()),
)
_PIN_CHECK = (
    sa.update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == sa.bindparam("b_id"), _PIN_NOT_LOCKED)
    .returning(_ACCOUNTS.c.pin_failures, _ACCOUNTS.c.pin_locked_until)
)
_PIN_RIGHT = _PIN_CHECK.values(pin_failures=0, pin_locked_until=None)
_PIN_RIGHT_REHASHED = _PIN_CHECK.values(
    pin_failures=0, pin_locked_until=None, pin_hash=sa.bindparam("b_hash")
)
# After an expired lockout the count starts afresh.
_FAILURES_AFTER = sa.case(
    (_ACCOUNTS.c.pin_locked_until.is_not(None), 1), else_=_ACCOUNTS.c.pin_failures + 1
)
_PIN_WRONG = _PIN_CHECK.values(
    pin_failures=_FAILURES_AFTER,
    pin_locked_until=sa.case(
        (_FAILURES_AFTER >= PIN_ATTEMPTS, sa.bindparam("b_lock_until", type_=UtcDateTime())),
        else_=sa.null(),
    ),
)


def _locked_at(locked_until: datetime | None, now: datetime) -> datetime | None:
    """``locked_until`` while it is still ahead of ``now`` (an expired lock is no lock)."""
    return locked_until if locked_until is not None and locked_until > now else None


def _pin_state(conn: sa.Connection, account_id: int) -> sa.Row[str, int, datetime | None]:
    row = conn.execute(_PIN_STATE, {"b_id": account_id}).first()
    if row is None:
        raise AccountNotFound(account_id)
    return row


def _account_row(conn: sa.Connection, account_id: int) -> sa.Row[Any]:
    row = conn.execute(_ACCOUNT, {"b_id": account_id}).first()
    if row is None:
        raise AccountNotFound(account_id)
    return row


def _get_account(s: Session, account_id: int) -> AccountRow:
    row = s.get(AccountRow, account_id)
    if row is None:
        raise AccountNotFound(account_id)
    return row


# The writes a call may make (unlock, freeze, tickets, SMS) and their look-ups by idempotency
# key, built once in Core like the reads above: an ORM session per change cost more CPU than
# the statements it sent.
_EVENTS_T = cast(sa.Table, AccountEventRow.__table__)
_SMS_T = cast(sa.Table, SmsRow.__table__)
_NOW = sa.bindparam("b_now", type_=UtcDateTime())
_BY_KEY: sa.BindParameter[str] = sa.bindparam("b_key", type_=sa.String())
_UNLOCK = (
    sa.update(_ACCOUNTS)
    .where(
        _ACCOUNTS.c.id == _BY_ACCOUNT,
        _ACCOUNTS.c.status == "locked",
        _ACCOUNTS.c.lock_reason == "password_attempts",
        _ACCOUNTS.c.self_unlock_allowed.is_(True),
    )
    .values(**IN_GOOD_STANDING)
    .returning(_ACCOUNTS.c.id)
)
_FREEZE = (
    sa.update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == _BY_ACCOUNT)
    .values(
        status="frozen",
        lock_reason="reported_stolen",
        lock_detail_zh=None,
        lock_detail_en=None,
        locked_at=_NOW,
        self_unlock_allowed=False,
    )
    .returning(_ACCOUNTS.c.id)
)
_RECORD_EVENT = sa.insert(_EVENTS_T).values(
    account_id=_BY_ACCOUNT,
    kind=sa.bindparam("b_kind", type_=_EVENTS_T.c.kind.type),
    created_at=_NOW,
    idempotency_key=_BY_KEY,
)
_EVENT_BY_KEY = sa.select(_EVENTS_T.c.id).where(_EVENTS_T.c.idempotency_key == _BY_KEY)
_INSERT_TICKET = (
    sa.insert(cast(sa.Table, _TICKETS_T))
    .values(
        number=sa.bindparam("b_number", type_=sa.String()),
        account_id=sa.bindparam("b_id", type_=sa.Integer()),
        kind=sa.bindparam("b_kind", type_=_TICKETS_T.c.kind.type),
        status="open",
        summary=sa.bindparam("b_summary", type_=sa.Text()),
        recording_url=sa.bindparam("b_recording", type_=sa.Text()),
        caller_phone=sa.bindparam("b_phone", type_=sa.String()),
        created_at=_NOW,
        updated_at=_NOW,
        idempotency_key=_BY_KEY,
    )
    .returning(_TICKETS_T.c.id)
)
_NUMBER_TICKET = (
    sa.update(cast(sa.Table, _TICKETS_T))
    .where(_TICKETS_T.c.id == sa.bindparam("b_ticket", type_=sa.Integer()))
    .values(number=sa.bindparam("b_number", type_=sa.String()))
    .returning(*_TICKETS_T.c)
)
_TICKET_BY_KEY = sa.select(_TICKETS_T).where(_TICKETS_T.c.idempotency_key == _BY_KEY)
# The phone comes from the account row: no row, nothing inserted (and no read before).
_QUEUE_SMS = (
    sa.insert(_SMS_T)
    .from_select(
        ["account_id", "to_phone", "body", "created_at", "idempotency_key"],
        sa.select(
            _ACCOUNTS.c.id,
            _ACCOUNTS.c.phone,
            sa.bindparam("b_body", type_=sa.Text()),
            _NOW,
            _BY_KEY,
        ).where(_ACCOUNTS.c.id == _BY_ACCOUNT),
    )
    .returning(*_SMS_T.c)
)
_SMS_BY_KEY = sa.select(_SMS_T).where(_SMS_T.c.idempotency_key == _BY_KEY)
_SINCE = sa.bindparam("b_since", type_=UtcDateTime())
_TRANSACTIONS_SINCE = sa.select(
    sa.select(sa.func.count())
    .where(_PAYMENTS.c.account_id == _BY_ACCOUNT, _PAYMENTS.c.created_at >= _SINCE)
    .scalar_subquery()
    .label("payments"),
    sa.select(sa.func.count())
    .where(_TOPUPS.c.account_id == _BY_ACCOUNT, _TOPUPS.c.created_at >= _SINCE)
    .scalar_subquery()
    .label("topups"),
)
