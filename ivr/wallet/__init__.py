"""The wallet domain: accounts, payments, top-ups, refunds, tickets and the SMS outbox.

Owns the public face of the domain: ``Wallet`` (reads and idempotent changes, on a database
through SQLAlchemy), the frozen dataclasses it returns, and the demo data set. Money is
integer fen; times are aware UTC. Must not import Flask, the flow engine or the sessions.
"""

from __future__ import annotations

from ivr.wallet.demo import DEMO_PIN
from ivr.wallet.demo import DemoSnapshot
from ivr.wallet.demo import ensure_demo
from ivr.wallet.demo import reset_demo
from ivr.wallet.demo import seed_demo
from ivr.wallet.service import Account
from ivr.wallet.service import Caller
from ivr.wallet.service import Limits
from ivr.wallet.service import Payment
from ivr.wallet.service import PinCheck
from ivr.wallet.service import Refund
from ivr.wallet.service import SmsMessage
from ivr.wallet.service import Ticket
from ivr.wallet.service import TopUp
from ivr.wallet.service import Wallet
from ivr.wallet.service import normalize_phone

__all__ = [
    "DEMO_PIN",
    "Account",
    "Caller",
    "DemoSnapshot",
    "Limits",
    "Payment",
    "PinCheck",
    "Refund",
    "SmsMessage",
    "Ticket",
    "TopUp",
    "Wallet",
    "ensure_demo",
    "normalize_phone",
    "reset_demo",
    "seed_demo",
]
