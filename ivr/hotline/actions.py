"""The named actions and guards the hotline flow calls, backed by the wallet.

Owns what each name in ``flows/hotline.yaml`` does: look up the caller, check the PIN, read
payments, top-ups and refunds into template values, unlock, freeze, open tickets, send the
reset SMS. Side effects use ``call.key(...)`` so a duplicate webhook never applies them twice.
Must not render speech or TwiML, nor hold words: it stores typed values and the engine speaks
them; the words of the SMS it sends are the flow's ``messages``.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta

from ivr.engine.context import CallContext
from ivr.engine.registry import Registry
from ivr.stores.records import SURVEY_NOTE
from ivr.voice.reading import Count
from ivr.voice.reading import DateOnly
from ivr.voice.reading import DigitString
from ivr.voice.reading import Duration
from ivr.voice.reading import LabelRef
from ivr.voice.reading import Localized
from ivr.voice.reading import Money
from ivr.voice.reading import OpeningHours
from ivr.voice.reading import When
from ivr.wallet import Account
from ivr.wallet.service import PIN_LOCKOUT
from ivr.wallet.tables import TicketKind

hotline = Registry()


def _account(call: CallContext) -> int:
    account_id = call.account_id
    if account_id is None:
        raise LookupError("this step needs an identified caller; the flow let an unknown one in")
    return account_id


# -- language, identity and verification -----------------------------------------------------


@hotline.action()
def set_language(call: CallContext, lang: str) -> None:
    call.lang = str(lang)
    call.services.recorder.update(call.call_sid, lang=call.lang)


@hotline.action()
def identify_caller(call: CallContext) -> None:
    """Use the caller ID when it belongs to a registered account.

    The same read tells whether its PIN checks are locked: kept for this webhook only
    (``call.scratch``), so that ``pin_locked_now``, asked next, needs no read of its own."""
    caller = call.services.wallet.caller(call.caller)
    if caller is None:
        _remember(call, None)
    else:
        _remember(call, caller.account)
        until = caller.pin_locked_until
        call.scratch[_pin_lock_key(caller.account.id)] = "" if until is None else until.isoformat()
    call.session.data["identified_by"] = "caller_id"


def _pin_lock_key(account_id: int) -> str:
    # Per account: a number keyed in later in the same webhook names another account.
    return f"pin_locked_until:{account_id}"


@hotline.action()
def find_entered_account(call: CallContext) -> None:
    """Look up the registered mobile number the caller keyed in. Whether one was found is
    not told to the caller: the flow asks for the PIN either way (``verify_pin``)."""
    account = call.services.wallet.find_by_phone(call.entered("phone") or "")
    _remember(call, account)
    call.session.data["identified_by"] = "keyed"


def _remember(call: CallContext, account: object) -> None:
    if isinstance(account, Account):
        call.account_id = account.id
        call.put("name", Localized(account.name_zh, account.name_en))
        call.services.recorder.update(call.call_sid, account_id=account.id)
    else:
        call.account_id = None


@hotline.guard(ensures={"name"})
def account_known(call: CallContext) -> bool:
    return call.account_id is not None and call.get("name") is not None


@hotline.guard(ensures={"name", "locked_for"})
def pin_locked_now(call: CallContext) -> bool:
    """The caller ID's account has PIN checks locked: it is not asked for a PIN it would
    refuse. ``{locked_for}``: how long until it may try again."""
    if call.account_id is None or call.get("name") is None:
        return False
    read = call.scratch.get(_pin_lock_key(call.account_id))
    if read is None:  # not read in this webhook yet
        until = call.services.wallet.pin_locked_until(call.account_id)
    else:
        until = datetime.fromisoformat(read) if read else None
    if until is None:
        return False
    call.put("locked_for", _minutes_until(call, until))
    return True


@hotline.action(provides={"locked_for"})
def verify_pin(call: CallContext) -> None:
    """Check the keyed PIN (kept in scratch only). Wrong PINs count towards the lockout.

    A number keyed in is treated alike whether an account is registered to it or not: the
    same work, the same refusal, and a lockout after the same count of wrong PINs in the
    call, announced for the full lockout time. Only a caller whose own line is registered
    (the caller ID) hears a lockout as soon as the wallet sets it, with the time left."""
    pin = call.entered("pin") or ""
    wallet = call.services.wallet
    if call.account_id is None:
        result = wallet.refuse_pin(pin)
    else:
        result = wallet.verify_pin(call.account_id, pin)
    call.verified = result.ok
    # A hash made with a key the server lacks: no PIN could pass, so none counts as wrong.
    call.set_flag("pin_unchecked", result.unchecked)
    by_caller_id = call.session.data.get("identified_by") == "caller_id"
    locked = result.locked_until is not None and not result.ok
    call.set_flag("pin_locked", by_caller_id and locked)
    if by_caller_id and result.locked_until is not None:
        call.put("locked_for", _minutes_until(call, result.locked_until))
    else:
        call.put("locked_for", Duration(_whole_minutes(PIN_LOCKOUT)))
    if not result.ok and not result.unchecked:
        call.bump("wrong_pins")


def _minutes_until(call: CallContext, until: datetime) -> Duration:
    return Duration(max(1, _whole_minutes(until - call.now)))


def _whole_minutes(span: timedelta) -> int:
    return -(-int(span.total_seconds()) // 60)


@hotline.guard(ensures={"name"})
def verified(call: CallContext) -> bool:
    return call.verified and call.get("name") is not None


@hotline.guard()
def pin_locked(call: CallContext) -> bool:
    return call.flag("pin_locked")


@hotline.guard()
def pin_unchecked(call: CallContext) -> bool:
    """The account's PIN hash cannot be checked on this server (made with a key it lacks)."""
    return call.flag("pin_unchecked")


# -- generic counters -------------------------------------------------------------------------


@hotline.action()
def count(call: CallContext, name: str) -> None:
    """Add one to a named counter (``{count: lookup_failures}``)."""
    call.bump(str(name))


@hotline.guard()
def count_below(call: CallContext, limit: object) -> bool:
    """``{count_below: {wrong_pins: 3}}``: every named counter is below its limit."""
    if not isinstance(limit, dict) or not limit:
        raise TypeError("count_below takes a mapping such as {wrong_pins: 3}")
    return all(call.count(str(name)) < int(n) for name, n in limit.items())


# -- frozen or locked -------------------------------------------------------------------------


@hotline.action(provides={"lock_detail"})
def load_account_status(call: CallContext) -> None:
    """The account's status; ``{locked_at}`` when it has one (the guards below tell), and
    ``{lock_detail}``: why, in the wallet's words, else the flow's ``labels.lock_reason``."""
    account = call.services.wallet.account(_account(call))
    call.session.data["account_status"] = account.status
    call.session.data["lock_reason"] = account.lock_reason
    if account.locked_at is not None:
        call.put("locked_at", When(account.locked_at))
    if account.lock_detail_zh and account.lock_detail_en:
        call.put("lock_detail", Localized(account.lock_detail_zh, account.lock_detail_en))
    else:  # the flow's words for a freeze the wallet gives no reason for
        call.put("lock_detail", LabelRef("lock_reason", "unknown"))


@hotline.guard(ensures={"locked_at"})
def locked_by_password(call: CallContext) -> bool:
    return call.session.data.get("lock_reason") == "password_attempts" and _has(call, "locked_at")


@hotline.guard(ensures={"locked_at"})
def frozen_at_callers_request(call: CallContext) -> bool:
    """Frozen because the caller (or someone on their number) reported it stolen."""
    reported = call.session.data.get("lock_reason") == "reported_stolen"
    return frozen(call) and reported and _has(call, "locked_at")


@hotline.guard()
def frozen(call: CallContext) -> bool:
    return call.session.data.get("account_status") == "frozen"


def _has(call: CallContext, value: str) -> bool:
    return call.get(value) is not None


@hotline.action()
def unlock_account(call: CallContext) -> None:
    ok = call.services.wallet.unlock(_account(call), key=call.key("unlock"))
    call.set_flag("unlocked", ok)


@hotline.guard()
def unlocked(call: CallContext) -> bool:
    return call.flag("unlocked")


# -- payments, top-ups, refunds ---------------------------------------------------------------


@hotline.action()
def load_failed_payment(call: CallContext) -> None:
    payment = call.services.wallet.latest_failed_payment(_account(call))
    call.session.data["failure_reason"] = payment.failure_reason if payment else None
    if payment is None:
        return
    call.put("amount", Money(payment.amount_fen))
    call.put("merchant", Localized(payment.merchant_zh, payment.merchant_en))
    call.put("when", When(payment.created_at))
    call.put("reason", LabelRef("failure_reason", payment.failure_reason or "unknown"))


@hotline.guard(ensures={"amount", "merchant", "when", "reason"})
def has_failed_payment(call: CallContext) -> bool:
    return call.session.data.get("failure_reason") is not None


@hotline.guard()
def failure_reason(call: CallContext, reason: str) -> bool:
    return call.session.data.get("failure_reason") == reason


@hotline.action()
def load_topups(call: CallContext) -> None:
    topups = call.services.wallet.open_topups(_account(call))
    call.session.data["open_topups"] = len(topups)
    if not topups:
        return
    newest = topups[0]
    call.session.data["topup_id"] = newest.id
    call.put("topups", Count(len(topups)))
    call.put("amount", Money(newest.amount_fen))
    call.put("card", DigitString(newest.card_last4))
    call.put("when", When(newest.created_at))
    call.put("status", LabelRef("topup_status", newest.status))


@hotline.guard(ensures={"topups", "amount", "card", "when", "status"})
def has_open_topups(call: CallContext) -> bool:
    return int(call.session.data.get("open_topups", 0)) > 0


@hotline.action(provides={"ticket"})
def open_topup_ticket(call: CallContext) -> None:
    amount = call.get("amount")
    card = call.get("card")
    summary = "top-up not received"
    if isinstance(amount, Money) and isinstance(card, DigitString):
        summary = f"top-up of {amount.fen} fen from card ending {card.digits} not received"
    ticket = call.services.wallet.open_ticket(
        kind="topup_investigation",
        summary=summary,
        key=call.key("topup_ticket"),
        account_id=_account(call),
        caller_phone=call.caller,
    )
    call.put("ticket", DigitString(ticket.number))
    call.tried("opened top-up investigation ticket")


@hotline.action()
def load_refund(call: CallContext) -> None:
    refunds = call.services.wallet.refunds(_account(call))
    call.session.data["has_refund"] = bool(refunds)
    if not refunds:
        return
    refund = refunds[0]
    # {expected} is said only when the wallet knows it (``has_refund_date``).
    call.session.data["refund_date"] = refund.expected_at is not None
    call.put("amount", Money(refund.amount_fen))
    call.put("merchant", Localized(refund.merchant_zh, refund.merchant_en))
    call.put("status", LabelRef("refund_status", refund.status))
    if refund.expected_at is not None:
        call.put("expected", DateOnly(refund.expected_at))


@hotline.guard(ensures={"amount", "merchant", "status"})
def has_refund(call: CallContext) -> bool:
    return bool(call.session.data.get("has_refund"))


@hotline.guard(ensures={"amount", "merchant", "status", "expected"})
def has_refund_date(call: CallContext) -> bool:
    return has_refund(call) and bool(call.session.data.get("refund_date"))


# -- stolen account ---------------------------------------------------------------------------


@hotline.action(provides={"transactions"})
def protect_stolen_account(call: CallContext) -> None:
    """Freeze at once (lasting), then count what happened in the last 24 hours."""
    account_id = _account(call)
    wallet = call.services.wallet
    wallet.protective_freeze(account_id, key=call.key("protective_freeze"))
    since = call.now - timedelta(hours=24)
    call.put("transactions", Count(wallet.count_transactions_since(account_id, since)))
    call.tried("protective freeze applied")


@hotline.action()
def protect_reported_account(call: CallContext) -> None:
    """Freeze the account registered to the number given, for a caller who could not pass
    the PIN: freezing only protects, so the flow asks for less proof than for unlocking.
    A number with no account is answered alike (nothing to freeze, nothing told)."""
    if call.account_id is not None:
        call.services.wallet.protective_freeze(call.account_id, key=call.key("protective_freeze"))
    call.tried("protective freeze requested without the PIN")


# -- complaints -------------------------------------------------------------------------------


@hotline.action(provides={"ticket"})
def open_complaint_ticket(call: CallContext) -> None:
    _open_recorded_ticket(call, "complaint", "complaint recorded by phone")
    call.tried("filed a complaint")


def _open_recorded_ticket(call: CallContext, kind: TicketKind, summary: str) -> None:
    """A ticket carrying the caller's last recording, read back as ``{ticket}``; once per step."""
    recording = call.session.data.get("recording_url")
    ticket = call.services.wallet.open_ticket(
        kind=kind,
        summary=summary,
        key=call.key(f"{kind}_ticket"),
        account_id=call.account_id,
        caller_phone=call.caller,
        recording_url=str(recording) if recording else None,
    )
    call.put("ticket", DigitString(ticket.number))


@hotline.action()
def load_ticket(call: CallContext) -> None:
    ticket = call.services.wallet.ticket(call.entered("ticket_number") or "")
    mine = ticket is not None and ticket.account_id in (None, call.account_id)
    call.set_flag("ticket_found", mine)
    if ticket is None or not mine:
        return
    call.put("ticket", DigitString(ticket.number))
    call.put("status", LabelRef("ticket_status", ticket.status))
    call.put("updated", When(ticket.updated_at))


@hotline.guard(ensures={"ticket", "status", "updated"})
def ticket_found(call: CallContext) -> bool:
    return call.flag("ticket_found")


# -- login and limits -------------------------------------------------------------------------


@hotline.action(provides={"phone_tail"}, sends={"reset_sms"})
def send_reset_sms(call: CallContext) -> None:
    """Text the reset link (the flow's ``messages.reset_sms``) in the caller's language."""
    if call.flow is None:
        raise LookupError("send_reset_sms needs the flow (its messages.reset_sms)")
    body = call.flow.messages["reset_sms"][call.lang]
    # The message says where it went: no read of the account besides the one the insert makes.
    sms = call.services.wallet.send_sms(_account(call), body, key=call.key("reset_sms"))
    call.put("phone_tail", DigitString(sms.to_phone[-4:]))
    call.tried("password reset SMS sent")


@hotline.action(provides={"daily", "per_payment", "spent"})
def load_limits(call: CallContext) -> None:
    limits = call.services.wallet.limits(_account(call))
    call.put("daily", Money(limits.daily_fen))
    call.put("per_payment", Money(limits.per_payment_fen))
    call.put("spent", Money(limits.spent_today_fen))


# -- when no agent can answer ------------------------------------------------------------


@hotline.action(provides={"reopens", "hours"})
def load_opening_hours(call: CallContext) -> None:
    """When the caller's queue opens again (now, if it is open), and its opening hours,
    read from the flow's ``hours:`` (never written into prompts by hand)."""
    if call.flow is None:
        raise LookupError("load_opening_hours needs the flow")
    hours = call.flow.hours_of(call.queue())
    call.put("reopens", When(hours.next_opening(call.now)))
    weekly = tuple(tuple((w.opens, w.closes) for w in day) for day in hours.weekly)
    call.put("hours", OpeningHours(weekly))


@hotline.action()
def book_callback(call: CallContext) -> None:
    """A callback request for this call (one per call, however often this runs)."""
    book = call.services.callbacks
    if book is None:
        raise LookupError("no callback book is wired into the services")
    preferred = None
    if call.flow is not None:
        hours = call.flow.hours_of(call.queue())
        if not hours.is_open(call.now):
            preferred = hours.next_opening(call.now)
            call.put("reopens", When(preferred))
    book.request(
        call.call_sid,
        phone=call.caller,
        account_id=call.account_id,
        issue=call.issue,
        queue=call.queue(),
        preferred_at=preferred,
        lang=call.lang,
        verified=call.verified,
        steps=list(call.steps),
    )
    call.tried("callback booked")


# -- the callback call (flows/callback.yaml) ----------------------------------------------


@hotline.guard()
def machine_answered(call: CallContext) -> bool:
    """Twilio's answering-machine detection said a machine (or a fax) took the callback."""
    return call.flag("machine")


@hotline.action(provides={"topic"})
def load_callback(call: CallContext) -> None:
    """What the callback call says: the person's name (``account_known`` then holds) and
    ``{topic}``, the label of the issue they chose on the first call (the flow's
    ``labels.callback.no_issue`` when they chose none)."""
    if call.flow is None:
        raise LookupError("load_callback needs the flow")
    if call.account_id is not None:
        _remember(call, call.services.wallet.account(call.account_id))
    issue = call.flow.issues.get(call.issue or "")
    label = issue.label if issue is not None else call.flow.labels["callback"]["no_issue"]
    call.put("topic", Localized(label["zh-CN"], label.get("en-US", label["zh-CN"])))


@hotline.action()
def cancel_callback(call: CallContext) -> None:
    """The person pressed 2: the callback this call is making is cancelled."""
    book = call.services.callbacks
    if book is None:
        raise LookupError("no callback book is wired into the services")
    request = call.session.data.get("callback")
    if request is not None:
        book.cancel(int(request))
    call.tried("callback cancelled")


@hotline.action(provides={"ticket"})
def open_voicemail_ticket(call: CallContext) -> None:
    _open_recorded_ticket(
        call, "voicemail", f"voicemail about {call.issue or 'an unspecified issue'}"
    )
    call.tried("left a voicemail")


# -- the end of the call ----------------------------------------------------------------------


@hotline.action()
def self_served(call: CallContext) -> None:
    """The caller says self-help solved it: the call is self-served from here, even if they
    hang up at the survey that follows (the goodbye would say so too; the first outcome
    stays)."""
    call.services.recorder.finish(call.call_sid, outcome="self_served", reason=call.reason)


@hotline.action()
def record_survey(call: CallContext, score: int) -> None:
    call.session.data["survey"] = int(score)
    call.services.recorder.event(
        call.call_sid,
        seq=call.step,
        state="survey",
        kind="note",
        detail=f"{SURVEY_NOTE} {int(score)}/5",
    )
