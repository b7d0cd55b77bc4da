"""The fast paths of attribute parsing give exactly what the general parser gives."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cityfabric.ngsild.entity import _simple_instance, parse_instance
from cityfabric.ngsild.errors import BadRequestData

IRI = "https://example.org/power"
EXPAND = lambda term: "https://example.org/" + term  # noqa: E731

values = st.one_of(
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(max_size=8),
    st.just("urn:ngsi-ld:null"),
    st.none(),
    st.lists(st.integers(), max_size=2),
)
times = st.one_of(
    st.sampled_from(
        ["2026-01-01T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01T00:00:00.5+08:00", "x"]
    ),
    st.integers(),
)
instances = st.fixed_dictionaries(
    {"type": st.sampled_from(["Property", "Relationship", "GeoProperty"]), "value": values},
    optional={
        "observedAt": times,
        "unitCode": st.one_of(st.sampled_from(["WTT", ""]), st.none(), st.integers()),
        "datasetId": st.just("urn:ngsi-ld:Dataset:1"),
    },
)


@given(raw=instances)
def test_fast_path_agrees_with_the_general_parser(raw: dict[str, Any]) -> None:
    fast = _simple_instance(IRI, raw)
    if fast is None:
        return
    try:
        general = parse_instance("power", IRI, raw, EXPAND)
    except BadRequestData:
        raise AssertionError(f"the fast path accepted what the parser rejects: {raw}") from None
    assert fast == general
