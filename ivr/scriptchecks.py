"""Lasting-effect checks that call scripts can name under ``effects:``.

Owns the bridge from a script's ``- account: {phone: ..., status: active}`` to the wallet and
the call records: each check takes the script's arguments and returns None when the effect
holds, or a sentence saying what was found instead. Reads only; never changes data.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from ivr.records import CallRecorder
from ivr.wallet import Wallet

Check = Callable[[Mapping[str, Any]], str | None]


def wallet_checks(wallet: Wallet, recorder: CallRecorder) -> dict[str, Check]:
    """The named checks: ``account``, ``tickets``, ``sms`` and ``handoffs``."""

    def account_of(args: Mapping[str, Any]) -> Any:
        phone = str(args.get("phone", ""))
        account = wallet.find_by_phone(phone)
        if account is None:
            raise LookupError(f"no account with phone {phone!r}")
        return account

    def account(args: Mapping[str, Any]) -> str | None:
        found = account_of(args)
        for field in ("status", "lock_reason"):
            if field in args and getattr(found, field) != args[field]:
                return f"account {found.phone}: {field} is {getattr(found, field)!r}, expected {args[field]!r}"
        return None

    def tickets(args: Mapping[str, Any]) -> str | None:
        found = wallet.tickets(account_of(args).id)
        if "kind" in args:
            found = [t for t in found if t.kind == args["kind"]]
        if "count" in args and len(found) != int(args["count"]):
            return f"{len(found)} ticket(s) found, expected {args['count']}"
        if args.get("recording") and not any(t.recording_url for t in found):
            return "no ticket carries a recording"
        return None

    def sms(args: Mapping[str, Any]) -> str | None:
        found = wallet.outbox(account_of(args).id)
        if "count" in args and len(found) != int(args["count"]):
            return f"{len(found)} SMS in the outbox, expected {args['count']}"
        return None

    def handoffs(args: Mapping[str, Any]) -> str | None:
        waiting = recorder.waiting()
        if "queue" in args:
            waiting = [h for h in waiting if h.queue == args["queue"]]
        if "reason" in args:
            waiting = [h for h in waiting if h.reason == args["reason"]]
        if "verified" in args:
            waiting = [h for h in waiting if h.verified == bool(args["verified"])]
        if "count" in args and len(waiting) != int(args["count"]):
            return f"{len(waiting)} matching caller(s) waiting for an agent, expected {args['count']}"
        return None

    return {"account": account, "tickets": tickets, "sms": sms, "handoffs": handoffs}
