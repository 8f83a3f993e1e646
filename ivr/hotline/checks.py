"""Lasting-effect checks that call scripts can name under ``effects:``.

Owns the bridge from a script's ``- account: {phone: ..., status: active}`` to the wallet and
the call records: each check takes the script's arguments and returns None when the effect
holds, or a sentence saying what was found instead. Reads only; never changes data.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from ivr.stores.records import CallRecorder
from ivr.wallet import Account
from ivr.wallet import Wallet

Check = Callable[[Mapping[str, Any]], str | None]


class _WalletChecks:
    def __init__(self, wallet: Wallet, recorder: CallRecorder) -> None:
        self.wallet = wallet
        self.recorder = recorder

    def _account(self, args: Mapping[str, Any]) -> Account:
        phone = str(args.get("phone", ""))
        account = self.wallet.find_by_phone(phone)
        if account is None:
            raise LookupError(f"no account with phone {phone!r}")
        return account

    def account(self, args: Mapping[str, Any]) -> str | None:
        found = self._account(args)
        for field in ("status", "lock_reason"):
            if field in args and getattr(found, field) != args[field]:
                seen = getattr(found, field)
                return f"account {found.phone}: {field} is {seen!r}, expected {args[field]!r}"
        return None

    def tickets(self, args: Mapping[str, Any]) -> str | None:
        found = self.wallet.tickets(self._account(args).id)
        if "kind" in args:
            found = [t for t in found if t.kind == args["kind"]]
        if "count" in args and len(found) != int(args["count"]):
            return f"{len(found)} ticket(s) found, expected {args['count']}"
        if args.get("recording") and not any(t.recording_url for t in found):
            return "no ticket carries a recording"
        return None

    def sms(self, args: Mapping[str, Any]) -> str | None:
        found = self.wallet.outbox(self._account(args).id)
        if "count" in args and len(found) != int(args["count"]):
            return f"{len(found)} SMS in the outbox, expected {args['count']}"
        return None

    def handoffs(self, args: Mapping[str, Any]) -> str | None:
        # This call's hand-off, whatever its status: the script's call has hung up (ending its
        # wait) before effects are checked.
        found = [
            h
            for h in self.recorder.handoffs()
            if h.call_sid == args.get("call_sid", h.call_sid)
            if all(
                getattr(h, name) == args[name]
                for name in ("queue", "reason", "verified", "status")
                if name in args
            )
        ]
        if "count" in args and len(found) != int(args["count"]):
            return f"{len(found)} matching hand-off(s) to an agent, expected {args['count']}"
        return None


def wallet_checks(wallet: Wallet, recorder: CallRecorder) -> dict[str, Check]:
    """The named checks: ``account``, ``tickets``, ``sms`` and ``handoffs``."""
    checks = _WalletChecks(wallet, recorder)
    return {
        "account": checks.account,
        "tickets": checks.tickets,
        "sms": checks.sms,
        "handoffs": checks.handoffs,
    }
