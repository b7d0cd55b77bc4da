"""Storage codec: from_json(to_json(s)) == s for every subscription parsing can produce."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityfabric.ngsild.context import ActiveContext
from cityfabric.notify.codec import from_json, to_json
from cityfabric.notify.parse import parse_subscription, patch_subscription
from tests.notify.samples import CITY, CORE, EXAMPLES, LATER, NOW, OTHER
from tests.notify.strategies import bodies

CONTEXTS = st.sampled_from([CITY, CORE])


@settings(max_examples=100, deadline=None)
@given(bodies(), CONTEXTS)
def test_round_trip(body: dict[str, Any], ctx: ActiveContext) -> None:
    sub = parse_subscription(body, ctx, now=NOW)
    stored = to_json(sub)
    assert from_json(stored) == sub
    assert to_json(from_json(stored)) == stored


@pytest.mark.parametrize(("name", "body"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_examples_round_trip(name: str, body: dict[str, Any]) -> None:
    sub = parse_subscription(body, CITY, now=NOW)
    assert from_json(to_json(sub)) == sub


def test_a_patched_subscription_with_two_contexts_round_trips() -> None:
    sub = parse_subscription(EXAMPLES[1][1], CITY, now=NOW)
    patched = patch_subscription(
        sub, {"entities": [{"type": "Bldg"}], "q": "aql>2"}, OTHER, now=LATER
    )
    assert from_json(to_json(patched)) == patched


def test_the_layout_is_versioned_json() -> None:
    stored = orjson.loads(to_json(parse_subscription(EXAMPLES[0][1], CITY, now=NOW)))
    assert stored["v"] == 1 and stored["id"] == "urn:ngsi-ld:Subscription:periodic"
    stored["v"] = 2
    with pytest.raises(ValueError, match="unknown subscription storage version 2"):
        from_json(orjson.dumps(stored))
