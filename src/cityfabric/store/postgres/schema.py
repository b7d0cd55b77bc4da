"""The PostgreSQL schema as ordered, versioned migration steps, recorded in `schema_version`.

tenants(tid, name)                  one row per tenant ("" is the default)
entities(tid, id, rid, types, doc)  one JSONB doc per entity (expanded form, the same doc
                                    as the SQLite engine keeps); rid = creation order;
                                    types: the type IRIs, GIN-indexed for type queries
entity_geo(tid, rid, attr, box)     the bounding box of every GeoProperty instance, in a
                                    GiST index: the geo pre-filter
hist_entities, hist_series, hist, hist_hourly, hist_daily, hist_retention, hist_changes
                                    history as in the SQLite schema (`store/sqlite/schema.py`),
                                    with `hist` partitioned by month on ts (`partitions.py`)
                                    and `num` numeric
counters, subscriptions, subscription_status, outbox, kv
                                    as in the SQLite schema; types / attrs are text arrays

`cf_values` and `cf_ts` are the SQL functions the compiled q language calls (`pgq.py`).
Steps run in one transaction each, under an advisory lock, so several processes starting
at once apply each step exactly once.
"""

from __future__ import annotations

from typing import Final

import psycopg

MIGRATION_LOCK: Final = 0x63667374  # pg_advisory_xact_lock key ("cfst")

MIGRATIONS: Final[tuple[tuple[int, str, str], ...]] = (
    (
        1,
        "entities",
        """
        CREATE EXTENSION IF NOT EXISTS postgis;
        CREATE TABLE tenants (tid serial PRIMARY KEY, name text NOT NULL UNIQUE);
        CREATE SEQUENCE entity_rid;
        CREATE TABLE entities (
            tid integer NOT NULL REFERENCES tenants,
            id text NOT NULL,
            rid bigint NOT NULL DEFAULT nextval('entity_rid'),
            types text[] NOT NULL,
            doc jsonb NOT NULL,
            PRIMARY KEY (tid, id)
        );
        -- a tenant's rows in creation order: ORDER BY rid LIMIT n stops early
        CREATE UNIQUE INDEX entities_order ON entities (tid, rid);
        CREATE INDEX entities_types ON entities USING gin (types);
        CREATE TABLE entity_geo (
            tid integer NOT NULL,
            rid bigint NOT NULL,
            attr text NOT NULL,
            box geometry NOT NULL
        );
        CREATE INDEX entity_geo_box ON entity_geo USING gist (box);
        CREATE INDEX entity_geo_rid ON entity_geo (rid);

        -- the candidate values of a q value node (see qsql.py for the SQLite twin): the
        -- node itself when scalar, its elements when an array, the @value of a typed
        -- literal, and every value of a languageMap when `lang`
        CREATE FUNCTION cf_values(node jsonb, lang boolean) RETURNS SETOF jsonb
        LANGUAGE sql IMMUTABLE AS $$
            SELECT CASE WHEN jsonb_typeof(v) = 'object' THEN v -> '@value' ELSE v END
            FROM (
                SELECT node AS v WHERE jsonb_typeof(node) NOT IN ('array', 'object')
                UNION ALL
                SELECT x FROM jsonb_array_elements(
                    CASE WHEN jsonb_typeof(node) = 'array' THEN node ELSE '[]' END) AS x
                UNION ALL
                SELECT node -> '@value' WHERE jsonb_typeof(node) = 'object' AND node ? '@value'
                UNION ALL
                SELECT x.value FROM jsonb_each(
                    CASE WHEN lang AND jsonb_typeof(node) = 'object' THEN node ELSE '{}' END
                ) AS x
            ) AS s
        $$;

        -- an ISO 8601 date, time or dateTime as sortable UTC text (funcs.normalize_instant)
        CREATE FUNCTION cf_ts(value text, kind text) RETURNS text
        LANGUAGE plpgsql IMMUTABLE SET timezone = 'UTC' AS $$
        BEGIN
            IF kind = 'time' THEN
                RETURN to_char(('2000-01-01 ' || value)::timestamptz, 'HH24:MI:SS.US');
            END IF;
            RETURN to_char(value::timestamptz, 'YYYY-MM-DD"T"HH24:MI:SS.US');
        EXCEPTION WHEN others THEN
            RETURN NULL;
        END
        $$;
        """,
    ),
    (
        2,
        "history",
        """
        CREATE TABLE hist_entities (
            heid bigserial PRIMARY KEY,
            tid integer NOT NULL,
            id text NOT NULL,
            types text[] NOT NULL,
            UNIQUE (tid, id)
        );
        CREATE INDEX hist_entities_types ON hist_entities USING gin (types);
        CREATE TABLE hist_series (
            sid bigserial PRIMARY KEY,
            heid bigint NOT NULL,
            attr text NOT NULL,
            dataset text NOT NULL,
            meta jsonb NOT NULL,
            UNIQUE (heid, attr, dataset)
        );
        CREATE SEQUENCE hist_iid;
        -- monthly range partitions on ts (UTC ms), see partitions.py
        CREATE TABLE hist (
            sid bigint NOT NULL,
            ts bigint NOT NULL,
            iid bigint NOT NULL,
            num numeric,
            val text,
            dmod bigint,
            extra text,
            PRIMARY KEY (sid, ts, iid)
        ) PARTITION BY RANGE (ts);
        CREATE TABLE hist_hourly (
            sid bigint NOT NULL, bucket bigint NOT NULL, cnt bigint NOT NULL,
            n bigint NOT NULL, total float8 NOT NULL, squares float8 NOT NULL,
            low numeric, high numeric,
            PRIMARY KEY (sid, bucket)
        );
        CREATE TABLE hist_daily (LIKE hist_hourly INCLUDING ALL);
        CREATE TABLE hist_retention (
            tid integer NOT NULL,
            type text NOT NULL,
            raw_ms bigint NOT NULL,
            PRIMARY KEY (tid, type)
        );
        CREATE TABLE hist_changes (
            fid bigint PRIMARY KEY,
            at bigint NOT NULL,
            sid bigint NOT NULL,
            lo bigint NOT NULL,
            hi bigint NOT NULL,
            ilo bigint NOT NULL,
            ihi bigint NOT NULL
        );
        CREATE INDEX hist_changes_at ON hist_changes (at);
        """,
    ),
    (
        3,
        "subscriptions_outbox_kv",
        """
        CREATE TABLE counters (name text PRIMARY KEY, value bigint NOT NULL);
        INSERT INTO counters (name, value) VALUES ('subscriptions_version', 0);
        CREATE SEQUENCE subscription_order;
        CREATE TABLE subscriptions (
            tid integer NOT NULL,
            id text NOT NULL,
            doc bytea NOT NULL,
            types text[],
            attrs text[],
            created_rid bigint NOT NULL DEFAULT nextval('subscription_order'),
            PRIMARY KEY (tid, id)
        );
        CREATE UNIQUE INDEX subscriptions_order ON subscriptions (tid, created_rid);
        CREATE TABLE subscription_status (
            tid integer NOT NULL,
            id text NOT NULL,
            times_sent bigint NOT NULL DEFAULT 0,
            times_failed bigint NOT NULL DEFAULT 0,
            last_notification text,
            last_success text,
            last_failure text,
            failure_reason text,
            PRIMARY KEY (tid, id)
        );
        CREATE TABLE outbox (
            oid bigserial PRIMARY KEY,
            tid integer NOT NULL,
            sub_id text NOT NULL,
            payload bytea NOT NULL,
            attempts integer NOT NULL DEFAULT 0,
            next_at bigint NOT NULL,
            created_at bigint NOT NULL
        );
        CREATE INDEX outbox_due ON outbox (next_at, oid);
        CREATE INDEX outbox_subscription ON outbox (tid, sub_id);
        CREATE TABLE kv (
            tid integer NOT NULL,
            namespace text NOT NULL,
            key text COLLATE "C" NOT NULL,
            value bytea NOT NULL,
            updated bigint NOT NULL,
            PRIMARY KEY (tid, namespace, key)
        );
        """,
    ),
)


def migrate(conn: psycopg.Connection[object]) -> list[str]:
    """Apply the steps not applied yet, each in its own transaction; return their names."""
    applied: list[str] = []
    for version, name, script in MIGRATIONS:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY,"
                " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur = conn.execute("SELECT 1 FROM schema_version WHERE version = %s", (version,))
            if cur.fetchone() is not None:
                continue
            conn.execute(script.encode())
            conn.execute(
                "INSERT INTO schema_version (version, name) VALUES (%s, %s)", (version, name)
            )
            applied.append(f"{version:04d}_{name}")
    return applied
