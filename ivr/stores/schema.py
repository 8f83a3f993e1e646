"""The database schema: every table of ``ivr``, created where missing.

Owns ``create_schema``. It sits in ``stores`` (above ``wallet``) because it must see every
table module: importing them registers their tables on ``ivr.db.Base``.
"""

from __future__ import annotations

import sqlalchemy as sa

import ivr.stores.callbacks  # noqa: F401  (registers callback_requests)
import ivr.stores.records  # noqa: F401  (registers call_records, call_events, agent_handoffs)
import ivr.stores.sessions  # noqa: F401  (registers call_sessions, call_locks)
import ivr.wallet.tables  # noqa: F401  (registers the wallet's tables)
from ivr.db import Base


def create_schema(engine: sa.Engine) -> None:
    """Create every table that is missing."""
    Base.metadata.create_all(engine)
