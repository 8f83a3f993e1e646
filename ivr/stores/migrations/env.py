"""How Alembic runs ivr's migrations: online, on the connection ``ivr.stores.migrate`` hands in.

Alembic executes this file; nothing imports it. The connection arrives in
``config.attributes["connection"]`` already inside a transaction, so every step of an upgrade
commits together where the database allows it (PostgreSQL; SQLite commits DDL as it goes).
Autogenerate compares against ``ivr.stores.schema.metadata`` (every table of ``ivr``) and
renders SQLite-safe batch operations.
"""

from __future__ import annotations

from alembic import context

from ivr.stores.schema import metadata

if context.is_offline_mode():
    raise SystemExit("ivr's migrations run on a live database only (no --sql): `ivr db upgrade`")

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
