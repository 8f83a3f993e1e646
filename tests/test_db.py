"""The shared SQL plumbing: rows to dataclasses, status columns, JSON columns."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from ivr.db import UtcDateTime
from ivr.db import alive
from ivr.db import from_row
from ivr.db import make_engine
from ivr.db import once_more_if_disconnected
from ivr.db import one_of
from tests import services
from tests.conftest import T0

things = sa.Table(
    "things",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(20)),
    sa.Column("secret", sa.String(20)),
    sa.Column("status", one_of(("new", "done"), name="things_status", length=8)),
    sa.Column("tags", sa.JSON),
    sa.Column("made_at", UtcDateTime),
)


@dataclass(frozen=True)
class Thing:
    id: int
    name: str
    status: str
    made_at: datetime


@dataclass(frozen=True)
class TaggedThing:
    id: int
    tags: list[str]
    label: str


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    things.create(engine)
    with engine.begin() as conn:
        conn.execute(
            things.insert(),
            {
                "id": 1,
                "name": "茶",
                "secret": "hidden",
                "status": "new",
                "tags": ["绿茶", "hot"],
                "made_at": T0,
            },
        )
    yield engine
    engine.dispose()


def the_row(engine: sa.Engine) -> sa.Row[tuple[object, ...]]:
    with engine.connect() as conn:
        return conn.execute(sa.select(things)).one()


def test_from_row_reads_each_field_by_name_and_leaves_other_columns_behind(
    engine: sa.Engine,
) -> None:
    assert from_row(Thing, the_row(engine)) == Thing(id=1, name="茶", status="new", made_at=T0)


def test_from_row_takes_fields_that_are_not_columns_from_its_caller(engine: sa.Engine) -> None:
    tagged = from_row(TaggedThing, the_row(engine), label="tea")

    assert tagged == TaggedThing(id=1, tags=["绿茶", "hot"], label="tea")


def test_from_row_reads_orm_objects_too() -> None:
    @dataclass
    class Orm:
        id: int
        name: str
        status: str
        made_at: datetime
        secret: str

    orm = Orm(id=2, name="水", status="done", made_at=T0, secret="x")

    assert from_row(Thing, orm) == Thing(id=2, name="水", status="done", made_at=T0)


def test_from_row_names_a_field_the_row_lacks(engine: sa.Engine) -> None:
    with pytest.raises(TypeError, match="TaggedThing.label: the row has no such column; pass"):
        from_row(TaggedThing, the_row(engine))


def test_from_row_refuses_a_given_value_for_no_field(engine: sa.Engine) -> None:
    with pytest.raises(TypeError, match="Thing has no field colour"):
        from_row(Thing, the_row(engine), colour="green")


def test_a_status_column_refuses_other_values_before_the_database_sees_them(
    engine: sa.Engine,
) -> None:
    with pytest.raises(sa.exc.StatementError, match="'lost' is not among the defined enum"):
        with engine.begin() as conn:
            conn.execute(things.update().values(status="lost"))


def test_json_columns_keep_chinese_readable_in_the_database(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT tags FROM things").scalar_one()

    assert stored == '["绿茶", "hot"]'


# -- dead connections: noticed on checkout without a round trip, or retried once ------------


@pytest.mark.postgres
def test_a_pooled_postgres_connection_the_server_killed_is_replaced_without_a_ping() -> None:
    name = f"ivr-db-{uuid.uuid4().hex[:8]}"
    for url in services.postgres_schema_url():
        engine = make_engine(f"{url}&application_name={name}")
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        statements: list[str] = []

        def note(conn: object, cursor: object, statement: str, *_: object) -> None:
            statements.append(statement)  # noqa: B023 (the loop runs once)

        sa.event.listen(engine, "before_cursor_execute", note)
        with services._postgres_admin().begin() as admin:
            killed = admin.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": name},
            ).scalar_one()
        time.sleep(0.2)  # the server's goodbye reaches the idle socket

        with engine.connect() as conn:
            answer = conn.execute(sa.text("SELECT 2")).scalar_one()
        engine.dispose()

        assert killed == 1
        assert answer == 2
        assert statements == ["SELECT 2"]  # no pre-ping, no failed first try


@pytest.mark.postgres
def test_a_postgres_pool_keeps_as_many_connections_as_a_busy_worker_used() -> None:
    for url in services.postgres_schema_url():
        engine = make_engine(url)
        connections = [engine.connect() for _ in range(10)]  # a worker's threads, all busy
        for conn in connections:
            conn.execute(sa.text("SELECT 1"))
            conn.close()
        kept = engine.pool.checkedin()  # type: ignore[attr-defined]
        engine.dispose()

        assert kept == 10  # none closed on return, to be opened again by the next webhook


def test_an_operation_whose_connection_died_runs_once_more(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tries: list[int] = []

    def operation() -> str:
        tries.append(1)
        if len(tries) == 1:
            raise sa.exc.OperationalError(
                "SELECT 1", {}, Exception("gone"), connection_invalidated=True
            )
        return "done"

    assert once_more_if_disconnected("loading call CA1", operation) == "done"
    assert len(tries) == 2
    assert caplog.messages == [
        "loading call CA1: the database connection was lost; trying once more"
    ]


def test_an_operation_failing_otherwise_is_not_tried_again() -> None:
    tries: list[int] = []

    def operation() -> str:
        tries.append(1)
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("locked"))

    with pytest.raises(sa.exc.OperationalError):
        once_more_if_disconnected("loading call CA1", operation)
    assert len(tries) == 1


def test_a_closed_driver_connection_is_not_alive() -> None:
    @dataclass
    class Closed:
        closed: bool = True

    @dataclass
    class NoSocket:
        closed: bool = False

    class BrokenSocket:
        closed = False

        def fileno(self) -> int:
            raise OSError("closed")

    assert alive(Closed()) is False
    assert alive(NoSocket()) is True
    assert alive(BrokenSocket()) is False
