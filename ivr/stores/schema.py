"""The database schema of ``ivr``: every table, registered on one ``MetaData``.

Owns ``metadata``, the schema today's code expects: Alembic's autogenerate target
(``ivr.stores.migrations``) and what ``ivr.stores.migrate`` creates in an empty database. It
sits in ``stores`` (above ``wallet``) because it must see every table module: importing them
registers their tables on ``ivr.db.Base``. How a database reaches this schema is
``ivr.stores.migrate``'s business, not this module's.
"""

from __future__ import annotations

import sqlalchemy as sa

import ivr.stores.callbacks  # noqa: F401  (registers callback_requests)
import ivr.stores.records  # noqa: F401  (registers call_records, call_events, agent_handoffs)
import ivr.stores.sessions  # noqa: F401  (registers call_sessions, call_locks)
import ivr.wallet.tables  # noqa: F401  (registers the wallet's tables)
from ivr.db import Base

metadata: sa.MetaData = Base.metadata
