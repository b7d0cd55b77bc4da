"""Subscriptions in SQLite: opaque docs, the matcher's index keys, delivery counters.

Writers run on the writer thread inside a call job's savepoint (see `writer.CallJob`),
readers on a reader connection. Every create, replace and delete bumps the
'subscriptions_version' counter in the same transaction, so a matcher that saw the
counter knows whether its copy of the subscriptions is current.
"""

from __future__ import annotations

import sqlite3
from typing import Final

import orjson

from cityfabric.ngsild.errors import AlreadyExists, ResourceNotFound
from cityfabric.store.base import SubscriptionCounters

VERSION: Final = "subscriptions_version"

Row = tuple[bytes, SubscriptionCounters]

_SELECT: Final = (
    "SELECT s.doc, st.times_sent, st.times_failed, st.last_notification, st.last_success,"
    " st.last_failure, st.failure_reason"
    " FROM subscriptions AS s LEFT JOIN subscription_status AS st"
    " ON st.tid = s.tid AND st.id = s.id"
)


def _keys(keys: frozenset[str] | None) -> str | None:
    """Index keys as a sorted JSON array; NULL stands for any."""
    return None if keys is None else orjson.dumps(sorted(keys)).decode()


def _missing(subscription_id: str) -> ResourceNotFound:
    return ResourceNotFound(f"subscription {subscription_id} does not exist")


def _bump(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE counters SET value = value + 1 WHERE name = ?", (VERSION,))


def insert(
    conn: sqlite3.Connection,
    tid: int,
    subscription_id: str,
    doc: bytes,
    types: frozenset[str] | None,
    attrs: frozenset[str] | None,
) -> None:
    """A new subscription with zeroed counters, listed after the tenant's others."""
    found = conn.execute(
        "SELECT 1 FROM subscriptions WHERE tid = ? AND id = ?", (tid, subscription_id)
    ).fetchone()
    if found is not None:
        raise AlreadyExists(f"subscription {subscription_id} already exists")
    conn.execute(
        "INSERT INTO subscriptions (tid, id, doc, types, attrs, created_rid)"
        " SELECT ?, ?, ?, ?, ?, COALESCE(MAX(created_rid), 0) + 1"
        " FROM subscriptions WHERE tid = ?",
        (tid, subscription_id, doc, _keys(types), _keys(attrs), tid),
    )
    conn.execute(
        "INSERT OR REPLACE INTO subscription_status (tid, id) VALUES (?, ?)",
        (tid, subscription_id),
    )
    _bump(conn)


def update(
    conn: sqlite3.Connection,
    tid: int | None,
    subscription_id: str,
    doc: bytes,
    types: frozenset[str] | None,
    attrs: frozenset[str] | None,
    expected: bytes | None,
) -> bool:
    """Replace doc and keys (if the stored doc is `expected`, when given)."""
    row = None
    if tid is not None:
        row = conn.execute(
            "SELECT doc FROM subscriptions WHERE tid = ? AND id = ?", (tid, subscription_id)
        ).fetchone()
    if row is None:
        raise _missing(subscription_id)
    if expected is not None and bytes(row[0]) != expected:
        return False
    conn.execute(
        "UPDATE subscriptions SET doc = ?, types = ?, attrs = ? WHERE tid = ? AND id = ?",
        (doc, _keys(types), _keys(attrs), tid, subscription_id),
    )
    _bump(conn)
    return True


def delete(conn: sqlite3.Connection, tid: int | None, subscription_id: str) -> None:
    """Delete a subscription and its counters."""
    key = (tid, subscription_id)
    gone = (
        tid is not None
        and conn.execute("DELETE FROM subscriptions WHERE tid = ? AND id = ?", key).rowcount
    )
    if not gone:
        raise _missing(subscription_id)
    conn.execute("DELETE FROM subscription_status WHERE tid = ? AND id = ?", key)
    _bump(conn)


def fetch(conn: sqlite3.Connection, tid: int | None, subscription_id: str) -> Row | None:
    """One subscription's doc and counters."""
    if tid is None:
        return None
    rows = _rows(conn.execute(f"{_SELECT} WHERE s.tid = ? AND s.id = ?", (tid, subscription_id)))
    return rows[0] if rows else None


def page(
    conn: sqlite3.Connection, tid: int | None, limit: int, offset: int, count: bool
) -> tuple[list[Row], int | None]:
    """One page in creation order and, with `count`, the total, from one snapshot."""
    if tid is None:
        return [], 0 if count else None
    conn.execute("BEGIN")
    try:
        rows = _rows(
            conn.execute(
                f"{_SELECT} WHERE s.tid = ? ORDER BY s.created_rid LIMIT ? OFFSET ?",
                (tid, max(limit, 0), max(offset, 0)),
            )
        )
        total = None
        if count:
            sql = "SELECT COUNT(*) FROM subscriptions WHERE tid = ?"
            total = int(conn.execute(sql, (tid,)).fetchone()[0])
    finally:
        conn.execute("COMMIT")
    return rows, total


def version(conn: sqlite3.Connection) -> int:
    """The current 'subscriptions_version'."""
    row = conn.execute("SELECT value FROM counters WHERE name = ?", (VERSION,)).fetchone()
    return int(row[0])


def _rows(cursor: sqlite3.Cursor) -> list[Row]:
    out: list[Row] = []
    for doc, sent, failed, last, success, failure, reason in cursor:
        counters = SubscriptionCounters(
            times_sent=int(sent or 0),
            times_failed=int(failed or 0),
            last_notification=_text(last),
            last_success=_text(success),
            last_failure=_text(failure),
            failure_reason=_text(reason),
        )
        out.append((bytes(doc), counters))
    return out


def _text(value: object) -> str | None:
    return None if value is None else str(value)
