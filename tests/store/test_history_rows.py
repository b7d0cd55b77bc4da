"""History instances as engine-neutral rows (store/history_rows.py)."""

from __future__ import annotations

import orjson
import pytest

from cityfabric.ngsild.errors import ResourceNotFound
from cityfabric.ngsild.temporal import parse_time
from cityfabric.store.history_rows import (
    changed_instances,
    instance_id,
    instance_of_row,
    parse_instance_id,
    prepare,
)

T0 = "2024-03-01T00:00:00.000Z"


def test_rows_read_back_as_the_instances_they_came_from() -> None:
    now = parse_time("2024-03-01T00:00:05Z")
    telemetry = {"type": "Property", "value": 2.5, "observedAt": T0, "unitCode": "CEL"}
    big = {"type": "Property", "value": 2**64 - 1, "observedAt": T0}  # past the num column
    text = {"type": "Property", "value": "on", "datasetId": "urn:d", "observedAt": T0}
    prepared = prepare([("t", telemetry), ("n", big), ("s", text)], now)
    (ts, num, val, dmod, rest) = prepared[("t", "")].rows[0]
    assert (ts, num, val, dmod) == (parse_time(T0), 2.5, None, 5000)
    assert prepared[("n", "")].rows[0][1:3] == (None, orjson.dumps(2**64 - 1).decode())
    assert set(prepared) == {("t", ""), ("n", ""), ("s", "urn:d")}
    for (attr, dataset), series in prepared.items():
        ts, num, val, dmod, rest = series.rows[0]
        extra = None if rest is None else orjson.dumps(rest).decode()
        meta = {"type": "Property"}
        back = instance_of_row(7, meta, dataset, (ts, 3, num, val, dmod, extra))
        original = {"t": telemetry, "n": big, "s": text}[attr]
        assert back["value"] == original["value"] and back["observedAt"] == T0
        assert back["instanceId"] == instance_id(7, 3)
        assert back["modifiedAt"] == "2024-03-01T00:00:05.000Z"


def test_instance_ids_and_changed_instances() -> None:
    assert parse_instance_id(instance_id(12, 34)) == (12, 34)
    with pytest.raises(ResourceNotFound):
        parse_instance_id("urn:ngsi-ld:Instance:x-1")
    a = {"type": "Property", "value": 1}
    b = {"type": "Property", "value": 2}
    before = {"id": "urn:e", "attrs": {"p": [a], "q": [a]}}
    after = {"id": "urn:e", "attrs": {"p": [a, b], "q": [a]}}
    assert list(changed_instances(before, after)) == [("p", b)]
    assert list(changed_instances(None, after)) == [("p", a), ("p", b), ("q", a)]
