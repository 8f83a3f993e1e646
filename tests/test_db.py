"""The shared SQL plumbing: rows to dataclasses, status columns, JSON columns."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from ivr.db import UtcDateTime
from ivr.db import from_row
from ivr.db import make_engine
from ivr.db import one_of
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
