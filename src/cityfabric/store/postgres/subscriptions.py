"""Subscriptions on PostgreSQL (see `store/sqlite/subscriptions.py` for the contract).

Every create, replace and delete bumps 'subscriptions_version' in the same transaction;
the row lock on that counter also orders concurrent subscription writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from cityfabric.ngsild.errors import AlreadyExists, ResourceNotFound
from cityfabric.store.base import SubscriptionCounters
from cityfabric.store.postgres.write import Conn

VERSION: Final = "subscriptions_version"
Row = tuple[bytes, SubscriptionCounters]
_SELECT: Final = (
    "SELECT s.doc, st.times_sent, st.times_failed, st.last_notification, st.last_success,"
    " st.last_failure, st.failure_reason"
    " FROM subscriptions AS s LEFT JOIN subscription_status AS st"
    " ON st.tid = s.tid AND st.id = s.id"
)


def _keys(keys: frozenset[str] | None) -> list[str] | None:
    return None if keys is None else sorted(keys)


def _missing(subscription_id: str) -> ResourceNotFound:
    return ResourceNotFound(f"subscription {subscription_id} does not exist")


def _bump(conn: Conn) -> None:
    conn.execute("UPDATE counters SET value = value + 1 WHERE name = %s", (VERSION,))


def insert(
    conn: Conn,
    tid: int,
    subscription_id: str,
    doc: bytes,
    types: frozenset[str] | None,
    attrs: frozenset[str] | None,
) -> None:
    """A new subscription with zeroed counters, listed after the tenant's others."""
    _bump(conn)  # first: the counter's row lock orders concurrent creates
    row = conn.execute(
        "INSERT INTO subscriptions (tid, id, doc, types, attrs) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (tid, id) DO NOTHING RETURNING 1",
        (tid, subscription_id, doc, _keys(types), _keys(attrs)),
    ).fetchone()
    if row is None:
        raise AlreadyExists(f"subscription {subscription_id} already exists")
    conn.execute(
        "INSERT INTO subscription_status (tid, id) VALUES (%s, %s) ON CONFLICT (tid, id)"
        " DO UPDATE SET times_sent = 0, times_failed = 0, last_notification = NULL,"
        " last_success = NULL, last_failure = NULL, failure_reason = NULL",
        (tid, subscription_id),
    )


def update(
    conn: Conn,
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
            "SELECT doc FROM subscriptions WHERE tid = %s AND id = %s FOR UPDATE",
            (tid, subscription_id),
        ).fetchone()
    if row is None:
        raise _missing(subscription_id)
    if expected is not None and bytes(row[0]) != expected:  # type: ignore[call-overload]
        return False
    conn.execute(
        "UPDATE subscriptions SET doc = %s, types = %s, attrs = %s WHERE tid = %s AND id = %s",
        (doc, _keys(types), _keys(attrs), tid, subscription_id),
    )
    _bump(conn)
    return True


def delete(conn: Conn, tid: int | None, subscription_id: str) -> None:
    """Delete a subscription and its counters."""
    key = (tid, subscription_id)
    gone = (
        tid is not None
        and conn.execute("DELETE FROM subscriptions WHERE tid = %s AND id = %s", key).rowcount
    )
    if not gone:
        raise _missing(subscription_id)
    conn.execute("DELETE FROM subscription_status WHERE tid = %s AND id = %s", key)
    _bump(conn)


def fetch(conn: Conn, tid: int | None, subscription_id: str) -> Row | None:
    if tid is None:
        return None
    rows = _rows(conn.execute(f"{_SELECT} WHERE s.tid = %s AND s.id = %s", (tid, subscription_id)))
    return rows[0] if rows else None


def page(
    conn: Conn, tid: int | None, limit: int, offset: int, count: bool
) -> tuple[list[Row], int | None]:
    """One page in creation order and, with `count`, the total (call in one snapshot)."""
    if tid is None:
        return [], 0 if count else None
    rows = _rows(
        conn.execute(
            f"{_SELECT} WHERE s.tid = %s ORDER BY s.created_rid LIMIT %s OFFSET %s",
            (tid, max(limit, 0), max(offset, 0)),
        )
    )
    total = None
    if count:
        found = conn.execute("SELECT count(*) FROM subscriptions WHERE tid = %s", (tid,))
        row = found.fetchone()
        total = 0 if row is None else int(str(row[0]))
    return rows, total


def version(conn: Conn) -> int:
    row = conn.execute("SELECT value FROM counters WHERE name = %s", (VERSION,)).fetchone()
    return 0 if row is None else int(str(row[0]))


def _rows(rows: Iterable[tuple[object, ...]]) -> list[Row]:
    out: list[Row] = []
    for doc, sent, failed, last, success, failure, reason in rows:
        counters = SubscriptionCounters(
            times_sent=int(str(sent or 0)),
            times_failed=int(str(failed or 0)),
            last_notification=_text(last),
            last_success=_text(success),
            last_failure=_text(failure),
            failure_reason=_text(reason),
        )
        out.append((bytes(doc), counters))  # type: ignore[call-overload]
    return out


def _text(value: object) -> str | None:
    return None if value is None else str(value)
