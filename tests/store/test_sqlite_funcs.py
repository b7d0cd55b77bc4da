"""The SQL user functions and helpers of the SQLite store (shared ones: test_filters.py)."""

from __future__ import annotations

import sqlite3

from cityfabric.store.sqlite import funcs, schema
from cityfabric.store.sqlite.qsql import key_path


def test_functions_on_a_connection() -> None:
    conn = sqlite3.connect(":memory:")
    funcs.install(conn)
    assert conn.execute("SELECT 'abc' REGEXP 'b', 'abc' REGEXP '^b', 5 REGEXP '5'").fetchone() == (
        1,
        0,
        None,
    )
    assert conn.execute(
        "SELECT cf_ts('2026-01-01T00:00:00Z', 'dateTime'), cf_ts(3, 'x')"
    ).fetchone() == (
        "2026-01-01T00:00:00.000000",
        None,
    )
    assert conn.execute("SELECT cf_geo(12345, '{}')").fetchone() == (0,)
    with funcs.GEO_PREDICATES.registered(lambda g: g.get("type") == "Point") as token:
        row = conn.execute(
            "SELECT cf_geo(?, '{\"type\":\"Point\"}'), cf_geo(?, 'x')", (token, token)
        )
        assert row.fetchone() == (1, 0)
    conn.close()


def test_key_path_quotes_iris() -> None:
    assert key_path("attrs", "https://x.org/a.b#c") == '$."attrs"."https://x.org/a.b#c"'


def test_migrations_are_recorded_and_idempotent() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    assert schema.migrate(conn) == [name for name, _ in schema.MIGRATIONS]
    assert schema.migrate(conn) == []
    applied = [r[0] for r in conn.execute("SELECT name FROM migrations ORDER BY name")]
    assert applied == [name for name, _ in schema.MIGRATIONS]
    conn.close()
