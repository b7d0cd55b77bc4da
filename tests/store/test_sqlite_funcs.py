"""The SQL user functions and helpers of the SQLite store."""

from __future__ import annotations

import sqlite3

import pytest

from cityfabric.store.sqlite import funcs, schema
from cityfabric.store.sqlite.qsql import key_path
from cityfabric.store.sqlite.sqlq import scope_regex


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("2026-11-23T16:00:00Z", "dateTime", "2026-11-23T16:00:00.000000"),
        ("2026-11-23T17:00:00.5+01:00", "dateTime", "2026-11-23T16:00:00.500000"),
        ("2026-11-23T16:00:00", "dateTime", "2026-11-23T16:00:00.000000"),
        ("2026-11-23", "date", "2026-11-23T00:00:00.000000"),
        ("10:30:00Z", "time", "10:30:00.000000"),
        ("not a date", "dateTime", None),
    ],
)
def test_normalize_instant(text: str, kind: str, expected: str | None) -> None:
    assert funcs.normalize_instant(text, kind) == expected


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


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("/a/#", ["/a", "/a/b", "/a/b/c"], ["/ab", "/b/a"]),
        ("/#", ["/a", "/a/b"], []),
        ("/+/b", ["/a/b", "/x/b"], ["/a/b/c", "/b"]),
        ("/a.b/+", ["/a.b/c"], ["/aXb/c", "/a.b"]),
    ],
)
def test_scope_regex(pattern: str, matches: list[str], misses: list[str]) -> None:
    regex = scope_regex(pattern)
    assert regex is not None
    assert all(funcs.regexp(regex, m) for m in matches)
    assert not any(funcs.regexp(regex, m) for m in misses)
    assert scope_regex("/a/b") is None


def test_key_path_quotes_iris() -> None:
    assert key_path("attrs", "https://x.org/a.b#c") == '$."attrs"."https://x.org/a.b#c"'


def test_migrations_are_recorded_and_idempotent() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    assert schema.migrate(conn) == [name for name, _ in schema.MIGRATIONS]
    assert schema.migrate(conn) == []
    applied = [r[0] for r in conn.execute("SELECT name FROM migrations ORDER BY name")]
    assert applied == [name for name, _ in schema.MIGRATIONS]
    conn.close()
