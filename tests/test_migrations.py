"""Schema migrations on SQLite and PostgreSQL: old databases reach today's schema with their
rows, the migrations and the models agree, and start-up and ``ivr db`` say what to do.

``tests/legacy_schemas/`` holds the tables that released commits created (compiled from their
own models), so "a database made by an earlier commit" is the real thing, not a rebuild.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import flask
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner

from ivr.cli.main import main
from ivr.clock import ManualClock
from ivr.db import make_engine
from ivr.engine.session import CallSession
from ivr.errors import ConfigError
from ivr.stores import migrate
from ivr.stores.callbacks import CallbackBook
from ivr.stores.callbacks import CallbackRequest
from ivr.stores.records import CallEvent
from ivr.stores.records import CallRecord
from ivr.stores.records import CallRecorder
from ivr.stores.records import Handoff
from ivr.stores.schema import metadata
from ivr.stores.sessions import SqlSessionStore
from ivr.wallet import Account
from ivr.wallet import Payment
from ivr.wallet import Ticket
from ivr.wallet import Wallet
from ivr.web.app import create_app
from tests.conftest import PIN_KEY
from tests.conftest import T0

LEGACY = Path(__file__).parent / "legacy_schemas"
HEAD = "0009"
SID = "CA00000000000000000000000000000001"
ZHANG = "+8613800000001"


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


# --- databases as earlier commits left them --------------------------------------------------


def run_legacy_ddl(engine: sa.Engine, commit: str, *, only: str | None = None) -> None:
    """Create the tables commit ``commit`` created (those statements naming ``only``, if given)."""
    text = (LEGACY / f"{commit}.{engine.dialect.name}.sql").read_text(encoding="utf-8")
    code = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    statements = [s.strip() for s in code.split(";") if s.strip()]
    with engine.begin() as conn:
        for statement in statements:
            if only is None or only in statement:
                conn.exec_driver_sql(statement)


def write(engine: sa.Engine, table: str, *rows: dict[str, Any]) -> None:
    """Insert rows through the table as the database has it (not as today's models say)."""
    with engine.begin() as conn:
        conn.execute(sa.insert(sa.Table(table, sa.MetaData(), autoload_with=conn)), list(rows))


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


# Rows as commit 00cd47e wrote them: JSON as text (Chinese unescaped), statuses as strings.
FIRST_RELEASE_ROWS: dict[str, list[dict[str, Any]]] = {
    "accounts": [
        {
            "id": 1,
            "phone": ZHANG,
            "name_zh": "张伟",
            "name_en": "Zhang Wei",
            "pin_hash": "scrypt$16384$8$1$c2FsdA==$aGFzaA==",
            "status": "locked",
            "lock_reason": "password_attempts",
            "lock_detail_zh": None,
            "lock_detail_en": None,
            "locked_at": at(-1),
            "self_unlock_allowed": True,
            "failed_password_attempts": 5,
            "balance_fen": 125_000,
            "daily_limit_fen": 200_000,
            "per_payment_limit_fen": 500_000,
            "pin_failures": 1,
            "pin_locked_until": None,
            "created_at": at(-24 * 400),
        }
    ],
    "payments": [
        {
            "id": 1,
            "account_id": 1,
            "amount_fen": 300_000,
            "merchant_zh": "朝阳电器",
            "merchant_en": "Chaoyang Electronics",
            "status": "failed",
            "failure_reason": "daily_limit_exceeded",
            "created_at": at(-24),
        }
    ],
    "tickets": [
        {
            "id": 1,
            "number": "10000001",
            "account_id": 1,
            "kind": "complaint",
            "status": "in_progress",
            "summary": "美味餐厅 charged twice",
            "recording_url": None,
            "caller_phone": ZHANG,
            "created_at": at(-120),
            "updated_at": at(-96),
            "idempotency_key": None,
        }
    ],
    "call_sessions": [
        {
            "call_sid": SID,
            "flow": "hotline",
            "state": "main_menu",
            "lang": "zh-CN",
            "data": '{"account_id": 1, "名字": "张伟", "tried": ["余额"]}',
            "seq": 3,
            "last_reply": "<Response><Pause/></Response>",
            "created_at": at(0),
            "updated_at": at(0.01),
            "ended_at": None,
            "version": 3,
        }
    ],
    "call_records": [
        {
            "call_sid": SID,
            "flow": "hotline",
            "caller": ZHANG,
            "account_id": 1,
            "lang": "zh-CN",
            "started_at": at(0),
            "ended_at": None,
            "outcome": "agent",
            "reason": "asked for an agent",
            "queue": "wallet-support",
            "duration_s": None,
        }
    ],
    "call_events": [
        {"call_sid": SID, "seq": 0, "at": at(0), "state": "welcome", "kind": "enter", "detail": ""},
        {
            "call_sid": SID,
            "seq": 1,
            "at": at(0),
            "state": "welcome",
            "kind": "input",
            "detail": "1",
        },
    ],
    "agent_handoffs": [
        {
            "call_sid": SID,
            "queue": "wallet-support",
            "priority": 1,
            "enqueued_at": at(0.01),
            "account_id": 1,
            "caller_name": "张伟",
            "verified": True,
            "issue": "refund",
            "steps_tried": '["查询余额", "refund_status"]',
            "reason": "asked for an agent",
            "status": "waiting",
        }
    ],
}

CALLBACK_ROW = {
    "id": 1,
    "call_sid": SID,
    "phone": ZHANG,
    "account_id": 1,
    "issue": "refund",
    "queue": "wallet-support",
    "requested_at": at(0.02),
    "preferred_at": None,
    "status": "pending",
}


def write_first_release_rows(engine: sa.Engine) -> None:
    for table, rows in FIRST_RELEASE_ROWS.items():
        write(engine, table, *rows)


def assert_first_release_rows_read_back_today(engine: sa.Engine, clock: ManualClock) -> None:
    """Every row written by the first release reads back, through today's code, exactly."""
    wallet = Wallet(engine, clock)
    assert wallet.account(1) == Account(
        id=1,
        phone=ZHANG,
        name_zh="张伟",
        name_en="Zhang Wei",
        status="locked",
        lock_reason="password_attempts",
        lock_detail_zh=None,
        lock_detail_en=None,
        locked_at=at(-1),
        self_unlock_allowed=True,
        failed_password_attempts=5,
        balance_fen=125_000,
        daily_limit_fen=200_000,
        per_payment_limit_fen=500_000,
    )
    assert wallet.latest_failed_payment(1) == Payment(
        id=1,
        account_id=1,
        amount_fen=300_000,
        merchant_zh="朝阳电器",
        merchant_en="Chaoyang Electronics",
        status="failed",
        failure_reason="daily_limit_exceeded",
        created_at=at(-24),
    )
    assert wallet.ticket("10000001") == Ticket(
        id=1,
        number="10000001",
        account_id=1,
        kind="complaint",
        status="in_progress",
        summary="美味餐厅 charged twice",
        recording_url=None,
        caller_phone=ZHANG,
        created_at=at(-120),
        updated_at=at(-96),
    )
    assert SqlSessionStore(engine, clock).load(SID) == CallSession(
        call_sid=SID,
        flow="hotline",
        state="main_menu",
        lang="zh-CN",
        data={"account_id": 1, "名字": "张伟", "tried": ["余额"]},
        created_at=at(0),
        updated_at=at(0.01),
        seq=3,
        last_reply="<Response><Pause/></Response>",
        ended_at=None,
        version=3,
    )
    assert CallRecorder(engine, clock).record(SID) == CallRecord(
        call_sid=SID,
        flow="hotline",
        caller=ZHANG,
        account_id=1,
        lang="zh-CN",
        started_at=at(0),
        ended_at=None,
        outcome="agent",
        reason="asked for an agent",
        queue="wallet-support",
        duration_s=None,
        events=[
            CallEvent(seq=0, at=at(0), state="welcome", kind="enter", detail=""),
            CallEvent(seq=1, at=at(0), state="welcome", kind="input", detail="1"),
        ],
        handoff=Handoff(
            call_sid=SID,
            queue="wallet-support",
            priority=1,
            enqueued_at=at(0.01),
            account_id=1,
            caller_name="张伟",
            verified=True,
            issue="refund",
            steps_tried=["查询余额", "refund_status"],
            reason="asked for an agent",
            status="waiting",
        ),
    )


# --- what a schema looks like, compared ----------------------------------------------------


def shape(engine: sa.Engine) -> dict[str, Any]:
    """Every table as the database reports it: columns, keys, indexes and constraints."""
    inspector = sa.inspect(engine)
    dialect = engine.dialect
    tables: dict[str, Any] = {}
    for name in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        tables[name] = {
            "columns": [
                (c["name"], c["type"].compile(dialect=dialect), c["nullable"])
                for c in inspector.get_columns(name)
            ],
            "primary key": inspector.get_pk_constraint(name)["constrained_columns"],
            "foreign keys": sorted(
                (
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    fk["options"].get("ondelete"),
                )
                for fk in inspector.get_foreign_keys(name)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(name)
            ),
            "unique": sorted(
                tuple(u["column_names"]) for u in inspector.get_unique_constraints(name)
            ),
            "checks": checks_in_database(inspector, name),
        }
    return tables


def checks_in_database(inspector: sa.Inspector, table: str) -> dict[str, list[str]]:
    """Each named CHECK constraint: the quoted values it allows (or its words, for ``>= 0``)."""
    return {
        check["name"]: _allowed(check["sqltext"])
        for check in inspector.get_check_constraints(table)
    }


def checks_in_models() -> dict[str, dict[str, list[str]]]:
    """The CHECK constraints today's models create, as ``checks_in_database`` reports them."""
    found: dict[str, dict[str, list[str]]] = {}
    for table in metadata.sorted_tables:
        checks = found.setdefault(table.name, {})
        for constraint in table.constraints:
            if isinstance(constraint, sa.CheckConstraint) and isinstance(constraint.name, str):
                checks[constraint.name] = _allowed(str(constraint.sqltext))
        for column in table.columns:
            if isinstance(column.type, sa.Enum):
                checks[str(column.type.name)] = sorted(column.type.enums)
    return found


def _allowed(sqltext: str) -> list[str]:
    quoted = re.findall(r"'([^']*)'", sqltext)
    return sorted(quoted) if quoted else re.findall(r"\w+|>=|>", sqltext.replace("(", " "))


def differences(engine: sa.Engine) -> list[Any]:
    """What autogenerate would change to make the database match the models."""
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), metadata)


def drop_everything(engine: sa.Engine) -> None:
    reflected = sa.MetaData()
    reflected.reflect(engine)
    reflected.drop_all(engine)


# --- the migrations against the models ------------------------------------------------------


def test_the_migrations_build_exactly_the_schema_the_models_describe(engine: sa.Engine) -> None:
    done = migrate.upgrade(engine)

    assert (done.before, done.after) == (None, HEAD)
    assert differences(engine) == []
    inspector = sa.inspect(engine)
    in_database = {
        table: checks_in_database(inspector, table) for table in inspector.get_table_names()
    }
    assert in_database == {"alembic_version": {}, **checks_in_models()}


def test_autogenerate_notices_when_a_model_and_the_migrations_disagree(engine: sa.Engine) -> None:
    migrate.upgrade(engine, to="0002")  # steps_tried and data still TEXT

    changed = {(d[0][2], d[0][3]) for d in differences(engine) if d[0][0] == "modify_type"}

    assert changed == {("agent_handoffs", "steps_tried"), ("call_sessions", "data")}


def test_start_up_and_the_migrations_create_the_same_schema(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
    migrated = shape(engine)
    drop_everything(engine)

    migrate.create_at_head(engine)

    assert shape(engine) == migrated
    assert migrate.state(engine) == migrate.SchemaState(HEAD, HEAD, tracked=True)


def test_every_migration_can_be_undone_and_done_again(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
    at_head = shape(engine)
    migrate.downgrade(engine, "base")

    assert set(shape(engine)) == set()
    migrate.upgrade(engine)
    assert shape(engine) == at_head


@pytest.mark.parametrize(("commit", "revision"), [("00cd47e", "0001"), ("4246650", "0002")])
def test_each_early_revision_is_the_schema_its_commit_released(
    engine: sa.Engine, commit: str, revision: str
) -> None:
    run_legacy_ddl(engine, commit)
    released = shape(engine)
    drop_everything(engine)

    migrate.upgrade(engine, to=revision)

    assert shape(engine) == released


# --- old databases reach head with their rows -------------------------------------------------


def test_rows_written_at_the_first_revision_survive_the_upgrade_to_head(
    engine: sa.Engine, clock: ManualClock
) -> None:
    migrate.upgrade(engine, to="0001")
    write_first_release_rows(engine)

    done = migrate.upgrade(engine)

    assert (done.before, done.after) == ("0001", HEAD)
    assert_first_release_rows_read_back_today(engine, clock)
    assert differences(engine) == []


@pytest.mark.parametrize(
    ("made_by", "revision"),
    [
        pytest.param(["00cd47e"], "0001", id="00cd47e"),
        pytest.param(["4246650"], "0002", id="4246650"),
        # made by 00cd47e, then served by 4246650: create_all added callback_requests only
        pytest.param(["00cd47e", "4246650:callback_requests"], "0001", id="00cd47e-then-4246650"),
    ],
)
def test_a_database_made_before_migrations_is_recognised_stamped_and_upgraded(
    engine: sa.Engine, clock: ManualClock, made_by: list[str], revision: str
) -> None:
    for step in made_by:
        commit, _, only = step.partition(":")
        run_legacy_ddl(engine, commit, only=only or None)
    write_first_release_rows(engine)
    has_callbacks = sa.inspect(engine).has_table("callback_requests")
    if has_callbacks:
        write(engine, "callback_requests", CALLBACK_ROW)

    assert migrate.state(engine) == migrate.SchemaState(revision, HEAD, tracked=False)
    assert migrate.is_behind(engine)
    done = migrate.upgrade(engine)

    assert (done.before, done.after) == (revision, HEAD)
    assert migrate.state(engine) == migrate.SchemaState(HEAD, HEAD, tracked=True)
    assert not migrate.is_behind(engine)
    assert differences(engine) == []
    assert_first_release_rows_read_back_today(engine, clock)
    if has_callbacks:
        assert CallbackBook(engine, clock).get(SID) == CallbackRequest(
            id=1,
            call_sid=SID,
            phone=ZHANG,
            account_id=1,
            issue="refund",
            queue="wallet-support",
            requested_at=at(0.02),
            preferred_at=None,
            status="pending",
        )


def test_a_handoff_can_fail_on_a_first_release_database_only_once_it_is_upgraded(
    engine: sa.Engine, clock: ManualClock
) -> None:
    run_legacy_ddl(engine, "00cd47e")
    write_first_release_rows(engine)
    recorder = CallRecorder(engine, clock)

    with pytest.raises(sa.exc.IntegrityError, match="agent_handoffs_status|CHECK"):
        recorder.handoff_status(SID, "failed")
    migrate.upgrade(engine)
    recorder.handoff_status(SID, "failed")

    record = recorder.record(SID)
    assert record is not None
    assert record.handoff is not None
    assert record.handoff.status == "failed"


def test_a_sqlite_file_is_copied_before_it_is_upgraded(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ivr.sqlite3'}")
    try:
        run_legacy_ddl(engine, "00cd47e")
        write_first_release_rows(engine)
        done = migrate.upgrade(engine)
    finally:
        engine.dispose()

    assert done.backup == tmp_path / "ivr.sqlite3.0001.bak"
    copy = make_engine(f"sqlite:///{done.backup}")
    try:
        assert migrate.state(copy) == migrate.SchemaState("0001", HEAD, tracked=False)
    finally:
        copy.dispose()


# --- databases this version cannot place ----------------------------------------------------


def test_a_database_at_a_revision_this_version_does_not_know_is_refused(
    engine: sa.Engine,
) -> None:
    migrate.create_at_head(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0999'"))

    with pytest.raises(ConfigError, match="revision 0999, which this version of ivr does not know"):
        migrate.state(engine)


def test_a_database_with_only_some_of_ivrs_tables_is_refused(engine: sa.Engine) -> None:
    run_legacy_ddl(engine, "00cd47e", only="CREATE TABLE accounts")

    with pytest.raises(ConfigError, match=r"\(accounts\) but not account_events, agent_handoffs"):
        migrate.state(engine)


# --- start-up ---------------------------------------------------------------------------------


def settings(**more: Any) -> dict[str, Any]:
    return {"IVR_LOG_LEVEL": "WARNING", "IVR_DEMO_DATA": False, **more}


def test_start_up_creates_an_empty_database_at_head(
    database_url: str, engine: sa.Engine, clock: ManualClock
) -> None:
    app = create_app(settings(IVR_DATABASE_URL=database_url), clock=clock, environ={})
    app.extensions["ivr"].database.dispose()

    assert migrate.state(engine) == migrate.SchemaState(HEAD, HEAD, tracked=True)
    assert differences(engine) == []


def test_start_up_refuses_a_database_that_is_behind_and_says_to_run_ivr_db_upgrade(
    database_url: str, engine: sa.Engine, clock: ManualClock
) -> None:
    migrate.upgrade(engine, to="0002")

    with pytest.raises(ConfigError) as refused:
        create_app(settings(IVR_DATABASE_URL=database_url), clock=clock, environ={})

    where = engine.url.render_as_string(hide_password=True)
    assert str(refused.value) == (
        f"the database {where} is at schema revision 0002, behind this version's {HEAD}: "
        "run `ivr db upgrade` (back it up first), then start again"
    )
    assert migrate.current(engine) == "0002"


def test_start_up_upgrades_the_embedded_default_sqlite_file_in_place_and_says_so(
    tmp_path: Path,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # create_app takes no instance path: Flask finds it beside the package, so point it here.
    monkeypatch.setattr(flask.Flask, "auto_find_instance_path", lambda self: str(tmp_path))
    default_file = tmp_path / "ivr.sqlite3"
    old = make_engine(f"sqlite:///{default_file}")
    run_legacy_ddl(old, "00cd47e")
    write_first_release_rows(old)
    old.dispose()

    keyed = settings(IVR_PIN_KEY=PIN_KEY)  # no development-key warning
    with caplog.at_level(logging.WARNING, logger="ivr.stores.migrate"):
        app = create_app(keyed, clock=clock, environ={})
    database = app.extensions["ivr"].database

    assert str(database.url) == f"sqlite:///{default_file}"
    assert caplog.messages == [
        f"upgraded the database sqlite:///{default_file} from schema revision 0001 to {HEAD} "
        f"(the old file is kept as {default_file}.0001.bak)"
    ]
    assert migrate.state(database) == migrate.SchemaState(HEAD, HEAD, tracked=True)
    assert_first_release_rows_read_back_today(database, clock)
    database.dispose()


# --- ivr db -----------------------------------------------------------------------------------


def test_ivr_db_current_and_upgrade_bring_an_old_database_to_head(
    database_url: str, engine: sa.Engine
) -> None:
    run_legacy_ddl(engine, "00cd47e")
    runner = CliRunner(env={"IVR_DATABASE_URL": database_url})
    where = engine.url.render_as_string(hide_password=True)

    before = runner.invoke(main, ["db", "current"])
    upgraded = runner.invoke(main, ["db", "upgrade"])
    again = runner.invoke(main, ["db", "upgrade"])
    after = runner.invoke(main, ["db", "current"])

    assert before.exit_code == 0, before.output
    assert before.output.splitlines() == [
        f"database: {where}",
        "current:  0001 (made before migrations; read from its tables)",
        f"head:     {HEAD}",
        "behind: run `ivr db upgrade` (back the database up first)",
    ]
    assert upgraded.exit_code == 0, upgraded.output
    assert upgraded.output.splitlines()[0] == f"upgraded {where} from revision 0001 to {HEAD}"
    assert again.output == f"{where} is already at revision {HEAD}, this version's schema\n"
    assert after.output.splitlines()[1:] == [f"current:  {HEAD}", f"head:     {HEAD}", "up to date"]


def test_ivr_serve_refuses_a_database_that_is_behind_and_says_to_run_ivr_db_upgrade(
    database_url: str, engine: sa.Engine
) -> None:
    run_legacy_ddl(engine, "4246650")
    runner = CliRunner(env={"IVR_DATABASE_URL": database_url, "IVR_LOG_LEVEL": "WARNING"})

    result = runner.invoke(main, ["serve", "--port", "1"])

    assert result.exit_code != 0
    assert f"is at schema revision 0002, behind this version's {HEAD}: run `ivr db upgrade`" in (
        result.output
    )
    assert "Traceback" not in result.output
    assert migrate.state(engine) == migrate.SchemaState("0002", HEAD, tracked=False)


def test_ivr_db_upgrade_creates_the_schema_in_an_empty_database(
    database_url: str, engine: sa.Engine
) -> None:
    result = CliRunner(env={"IVR_DATABASE_URL": database_url}).invoke(main, ["db", "upgrade"])

    where = engine.url.render_as_string(hide_password=True)
    assert result.exit_code == 0, result.output
    assert result.output == f"created the schema at revision {HEAD} in {where}\n"
    assert differences(engine) == []


def test_ivr_db_on_a_database_it_cannot_reach_says_what_to_do_without_a_traceback() -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/ivr"
    result = CliRunner(env={"IVR_DATABASE_URL": url}).invoke(main, ["db", "upgrade"])

    assert result.exit_code == 2
    assert "error: cannot use the database postgresql+psycopg://nobody@127.0.0.1:1/ivr" in (
        result.output
    )
    assert "→ check IVR_DATABASE_URL and that the database is running" in result.output
    assert "Traceback" not in result.output


def test_ivr_db_on_a_database_this_version_cannot_place_says_why(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    engine = make_engine(url)
    run_legacy_ddl(engine, "00cd47e", only="CREATE TABLE accounts")
    engine.dispose()

    result = CliRunner(env={"IVR_DATABASE_URL": url}).invoke(main, ["db", "current"])

    assert result.exit_code == 2
    assert "so it was not made by ivr or is damaged" in result.output
    assert "→ fix that, then check with `ivr db current`" in result.output
