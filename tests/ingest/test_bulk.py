"""Bulk import readers and batching: JSON Lines and CSV edge cases, grouping and chunking."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityfabric.ingest.bulk import (
    BadFile,
    Entity,
    EntityBatch,
    EntityBatcher,
    Item,
    Lines,
    Reject,
    Series,
    SeriesGrouper,
    TemporalChunk,
    is_temporal,
    parse_cell,
    parse_observed_at,
    plan,
    read_csv,
    read_jsonl,
)

T0 = "2024-03-01T00:00:00.000Z"


def jsonl(text: bytes) -> list[Item]:
    return list(read_jsonl(Lines(io.BytesIO(text))))


def csv_items(text: str | bytes) -> list[Item]:
    raw = text.encode() if isinstance(text, str) else text
    return list(read_csv(Lines(io.BytesIO(raw))))


def rejects(items: list[Any]) -> dict[int, str]:
    return {i.line: i.reason for i in items if isinstance(i, Reject)}


def instance(value: object, at: str = T0, **extra: object) -> dict[str, object]:
    return {"type": "Property", "value": value, "observedAt": at, **extra}


# -- JSON Lines -----------------------------------------------------------------------


def test_jsonl_lines_keep_their_numbers_through_bom_blank_lines_and_crlf() -> None:
    text = (
        b'\xef\xbb\xbf{"id": "urn:a", "type": "T"}\r\n'
        b"\n"
        b"   \r\n"
        b'{"id": "urn:b", "type": "T", "x": 1}'  # no final newline
    )
    items = jsonl(text)
    assert [(i.line, i.id) for i in items if isinstance(i, Entity)] == [(1, "urn:a"), (4, "urn:b")]
    assert not rejects(items)


def test_jsonl_rejects_bad_json_non_objects_and_missing_ids() -> None:
    text = b"\n".join(
        [
            b'{"id": "urn:a", "type": "T"}',
            b'{"id": "urn:b", ',
            b"[1, 2]",
            b'"urn:c"',
            b'{"type": "T"}',
            b'{"id": 7, "type": "T"}',
            b'{"id": "", "type": "T"}',
            b'{"id": "urn:\xff", "type": "T"}',
        ]
    )
    bad = rejects(jsonl(text))
    assert sorted(bad) == [2, 3, 4, 5, 6, 7, 8]
    assert bad[2].startswith("not valid JSON")
    assert bad[3] == "not a JSON object but list"
    assert bad[4] == "not a JSON object but str"
    assert all("id" in bad[n] for n in (5, 6, 7))
    assert bad[8].startswith("not valid JSON")  # not UTF-8


def test_a_history_line_is_a_temporal_chunk_and_an_entity_line_is_not() -> None:
    history = {
        "id": "urn:s",
        "type": "Sensor",
        "temperature": [instance(20), instance(21, "2024-03-01T01:00:00Z")],
        "humidity": [instance(50)],
    }
    multi = {
        "id": "urn:m",
        "type": "Sensor",
        "temperature": [instance(20, datasetId="urn:d:1"), instance(21, datasetId="urn:d:2")],
    }
    with_context = {**history, "@context": "https://example.org/ctx.jsonld"}
    text = b"\n".join(orjson.dumps(d) for d in (history, multi, with_context))
    first, second, third = jsonl(text)
    assert isinstance(first, TemporalChunk)
    assert (first.lines, first.entity_id, first.instances, first.ld) == ((1,), "urn:s", 3, False)
    assert first.doc == history
    assert isinstance(second, Entity) and second.line == 2
    assert isinstance(third, TemporalChunk) and third.ld


@pytest.mark.parametrize(
    ("doc", "temporal"),
    [
        ({"id": "x", "a": [instance(1), instance(2)]}, True),
        ({"id": "x", "a": [instance(1, datasetId="d"), instance(2, datasetId="d")]}, True),
        ({"id": "x", "a": [instance(1)]}, False),  # one instance: an ordinary attribute
        ({"id": "x", "a": [instance(1, datasetId="d1"), instance(2, datasetId="d2")]}, False),
        ({"id": "x", "a": [{"type": "Property", "value": 1}, instance(2)]}, False),
        ({"id": "x", "a": [1, 2]}, False),  # a concise array value
        ({"id": "x", "a": instance(1)}, False),
    ],
)
def test_is_temporal(doc: dict[str, Any], temporal: bool) -> None:
    assert is_temporal(doc) is temporal


# -- CSV values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", 12),
        ("-3", -3),
        ("0", 0),
        ("12.5", 12.5),
        ("-0.25", -0.25),
        ("1e3", 1000.0),
        ("2.5E-2", 0.025),
        (" 7 ", 7),
        ("true", True),
        ("FALSE", False),
        ("True", True),
        ("007", "007"),  # not a JSON number: a code such as a zip code
        ("1_000", "1_000"),
        ("+5", "+5"),
        (".5", ".5"),
        ("nan", "nan"),
        ("inf", "inf"),
        ("1e999", "1e999"),
        ("99999999999999999999", "99999999999999999999"),  # past 64 bits
        ("on", "on"),
        ("hello, world", "hello, world"),
    ],
)
def test_parse_cell(text: str, value: object) -> None:
    parsed = parse_cell(text)
    assert parsed == value and type(parsed) is type(value)


def render(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


VALUES = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
)
# NUL is refused (test_nul_lines_are_rejected), every other character is kept
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1
).filter(lambda s: isinstance(parse_cell(s), str) and s.strip() != "")


@given(VALUES)
def test_numbers_and_booleans_round_trip(value: bool | int | float) -> None:
    parsed = parse_cell(render(value))
    assert parsed == value and type(parsed) is type(value)


@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_text_is_kept_verbatim_unless_it_is_a_number_or_boolean(text: str) -> None:
    parsed = parse_cell(text)
    if isinstance(parsed, str):
        assert parsed == text
    else:
        assert parse_cell(render(parsed)) == parsed


@given(st.lists(st.tuples(st.sampled_from(["urn:a", "urn:b"]), VALUES | TEXT), max_size=20))
def test_csv_rows_round_trip_through_the_csv_module(rows: list[tuple[str, object]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "type", "observedAt", "reading"])
    writer.writerows([eid, "Sensor", T0, render(v)] for eid, v in rows)
    items = csv_items(out.getvalue())
    assert not rejects(items)
    got = [(i.entity_id, i.instances["reading"]["value"]) for i in items if isinstance(i, Series)]
    assert got == rows
    assert all(type(g[1]) is type(r[1]) for g, r in zip(got, rows, strict=True))


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2024-03-01T10:00:00Z", "2024-03-01T10:00:00.000Z"),
        ("2024-03-01T10:00:00", "2024-03-01T10:00:00.000Z"),  # no offset: UTC
        ("2024-03-01 10:00", "2024-03-01T10:00:00.000Z"),
        ("2024-03-01T12:00:00+02:00", "2024-03-01T10:00:00.000Z"),
        ("2024-03-01T10:00:00.5Z", "2024-03-01T10:00:00.500Z"),
        ("2024-03-01T10:00:00.123456Z", "2024-03-01T10:00:00.123456Z"),
        ("2024-03-01", None),  # a date is not a date-time
        ("yesterday", None),
        ("2024-13-01T00:00:00Z", None),
        ("1709287200", None),
        ("", None),
    ],
)
def test_parse_observed_at(text: str, iso: str | None) -> None:
    assert parse_observed_at(text) == iso


# -- CSV files ------------------------------------------------------------------------


def test_csv_time_series_rows() -> None:
    text = (
        "\ufeffid,type,observedAt,temperature,on,label\r\n"
        "urn:s1,Sensor,2024-03-01T00:00:00Z,20.5,true,north\r\n"
        "\r\n"
        "urn:s1,Sensor,2024-03-01T01:00:00Z,21,,\r\n"
        "urn:s2,Sensor,2024-03-01T00:00:00Z,,,\r\n"
    )
    items = csv_items(text)
    assert not rejects(items)
    first, second, third = items
    assert isinstance(first, Series) and isinstance(second, Series) and isinstance(third, Series)
    assert first.line == 2 and second.line == 4 and third.line == 5
    assert first.instances == {
        "temperature": instance(20.5),
        "on": instance(True),
        "label": instance("north"),
    }
    assert second.instances == {"temperature": instance(21, "2024-03-01T01:00:00.000Z")}
    assert third.instances == {}


def test_nul_lines_are_rejected() -> None:
    """U+0000 cannot be stored (PostgreSQL refuses it): the line is rejected, not the file."""
    items = jsonl(b'{"id": "urn:a", "type": "T", "p": "o\\u0000n"}\n{"id": "urn:b", "type": "T"}')
    assert rejects(items)[1].startswith("the line contains the character U+0000 (NUL)")
    assert "(at p)" in rejects(items)[1]
    assert [i.doc["id"] for i in items if isinstance(i, Entity)] == ["urn:b"]
    rows = csv_items(b"id,type,p\nurn:a,T,o\x00n\nurn:b,T,on\n")
    assert rejects(rows)[2].startswith("the row contains the character U+0000 (NUL)")
    assert [i.doc["id"] for i in rows if isinstance(i, Entity)] == ["urn:b"]


def test_csv_rejects_bad_rows_and_keeps_going() -> None:
    text = (
        b"id,type,observedAt,temperature\n"
        b"urn:s1,Sensor,2024-03-01T00:00:00Z\n"  # 2: a column short
        b"urn:s1,Sensor,2024-03-01T00:00:00Z,1,2\n"  # 3: a column too many
        b",Sensor,2024-03-01T00:00:00Z,1\n"  # 4: no id
        b"urn:s1,,2024-03-01T00:00:00Z,1\n"  # 5: no type
        b"urn:s1,Sensor,2024-03-01,1\n"  # 6: a date, not a date-time
        b"urn:s1,Sensor,2024-03-01T00:00:00Z,\xff\n"  # 7: not UTF-8
        b'urn:s1,Sensor,2024-03-01T00:00:00Z,"two\nlines"\n'  # 8-9: one record
        b"urn:s1,Sensor,2024-03-01T02:00:00Z,3\n"  # 10
    )
    items = csv_items(text)
    bad = rejects(items)
    assert sorted(bad) == [2, 3, 4, 5, 6, 7]
    assert bad[2] == "3 columns where the header has 4"
    assert bad[3] == "5 columns where the header has 4"
    assert bad[4] == "no entity id"
    assert bad[5] == "no entity type"
    assert "not an ISO 8601 date-time" in bad[6]
    assert bad[7] == "not valid UTF-8"
    good = [i for i in items if isinstance(i, Series)]
    assert [(s.line, s.instances["temperature"]["value"]) for s in good] == [
        (8, "two\nlines"),
        (10, 3),
    ]


def test_csv_entities_without_observed_at() -> None:
    items = csv_items("id,type,name,height,on\nurn:p1,Pole,north,12.5,true\nurn:p2,Pole,,7,\n")
    docs = [i.doc for i in items if isinstance(i, Entity)]
    assert docs == [
        {
            "id": "urn:p1",
            "type": "Pole",
            "name": {"type": "Property", "value": "north"},
            "height": {"type": "Property", "value": 12.5},
            "on": {"type": "Property", "value": True},
        },
        {"id": "urn:p2", "type": "Pole", "height": {"type": "Property", "value": 7}},
    ]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("\n\n", "empty"),
        ("name,observedAt,x\n", "missing: id, type"),
        ("id,observedAt,x\n", "missing: type"),
        ("id,type,,x\n", "without a name"),
        ("id,type,x,x\n", "x more than once"),
    ],
)
def test_csv_header_problems_are_bad_files(text: str, says: str) -> None:
    with pytest.raises(BadFile, match=says):
        csv_items(text)


# -- batching -------------------------------------------------------------------------


def entity(line: int, eid: str, *, ld: bool = False, size: int = 10) -> Entity:
    doc: dict[str, Any] = {"id": eid, "type": "T"}
    if ld:
        doc["@context"] = "https://example.org/ctx.jsonld"
    return Entity(line, doc, size)


def series(line: int, eid: str, n: int = 1, etype: str = "Sensor") -> Series:
    at = f"2024-03-01T00:00:{line % 60:02d}.000Z"
    return Series(line, eid, etype, {f"a{k}": instance(line, at) for k in range(n)})


def test_entities_are_batched_by_count_and_split_by_context() -> None:
    items: list[Item] = [entity(n, f"urn:e{n}", ld=n % 3 == 0) for n in range(1, 11)]
    steps = list(plan(items, batch_size=3))
    assert all(isinstance(s, EntityBatch) for s in steps)
    batches = [(b.ld, [e.line for e in b.entities]) for b in steps if isinstance(b, EntityBatch)]
    assert batches == [(False, [1, 2, 4]), (False, [5, 7, 8]), (True, [3, 6, 9]), (False, [10])]


def test_an_id_seen_twice_starts_a_new_batch() -> None:
    batcher = EntityBatcher(size=100)
    out = [
        b
        for e in [entity(1, "urn:a"), entity(2, "urn:b"), entity(3, "urn:a")]
        for b in batcher.add(e)
    ]
    out += list(batcher.flush())
    assert [[e.line for e in b.entities] for b in out] == [[1, 2], [3]]


def test_a_batch_stays_under_the_byte_limit() -> None:
    batcher = EntityBatcher(size=100, max_bytes=25)
    out = [b for n in range(1, 6) for b in batcher.add(entity(n, f"urn:{n}", size=10))]
    out += list(batcher.flush())
    assert [len(b.entities) for b in out] == [2, 2, 1]


def test_a_history_line_waits_for_a_pending_upsert_of_the_same_entity() -> None:
    chunk = TemporalChunk((3,), "urn:a", {"id": "urn:a", "type": "T"}, 2)
    other = TemporalChunk((4,), "urn:z", {"id": "urn:z", "type": "T"}, 2)
    steps = list(plan([entity(1, "urn:a"), entity(2, "urn:b"), chunk, other, Reject(5, "bad")]))
    assert [type(s).__name__ for s in steps] == [
        "EntityBatch",
        "TemporalChunk",
        "TemporalChunk",
        "Reject",
    ]


def test_series_rows_are_grouped_per_entity() -> None:
    rows: list[Item] = [series(1, "urn:a", 2), series(2, "urn:b"), series(3, "urn:a", 2)]
    steps = list(plan(rows))
    chunks = {s.entity_id: s for s in steps if isinstance(s, TemporalChunk)}
    assert set(chunks) == {"urn:a", "urn:b"} and len(steps) == 2
    a = chunks["urn:a"]
    assert (a.lines, a.instances) == ((1, 3), 4)
    assert a.doc["type"] == "Sensor"
    assert [i["value"] for i in a.doc["a0"]] == [1, 3]
    assert [i["value"] for i in a.doc["a1"]] == [1, 3]


def test_series_chunks_hold_whole_rows_up_to_the_chunk_size() -> None:
    rows: list[Item] = [series(n, "urn:a", 2) for n in range(1, 8)]  # 14 instances
    chunks = [s for s in plan(rows, chunk=5) if isinstance(s, TemporalChunk)]
    assert [c.lines for c in chunks] == [(1, 2), (3, 4), (5, 6), (7,)]
    assert [c.instances for c in chunks] == [4, 4, 4, 2]


def test_pending_series_are_flushed_past_the_buffer_bound() -> None:
    grouper = SeriesGrouper(chunk=100, buffered=6)
    out = [s for n in range(1, 8) for s in grouper.add(series(n, f"urn:{n}"))]
    assert [c.entity_id for c in out if isinstance(c, TemporalChunk)] == [
        f"urn:{n}" for n in range(1, 7)
    ]
    assert grouper.count == 1
    assert [c.lines for c in grouper.flush()] == [(7,)]


def test_a_row_with_another_type_for_a_known_entity_is_rejected() -> None:
    steps = list(plan([series(1, "urn:a"), series(2, "urn:a", etype="Pole"), series(3, "urn:a")]))
    bad = [s for s in steps if isinstance(s, Reject)]
    assert [(r.line, r.entity_id) for r in bad] == [(2, "urn:a")]
    assert "type Sensor before, not Pole" in bad[0].reason
    chunk = next(s for s in steps if isinstance(s, TemporalChunk))
    assert chunk.lines == (1, 3)
