"""Topic parsing: tenant, kind and target; bad topics say what is expected."""

from __future__ import annotations

import pytest

from cityfabric.ingest.topics import Topic, parse_topic, subscriptions, tenant_of_topic
from cityfabric.ngsild.errors import BadRequestData


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        (
            "cityfabric/default/entities/urn:ngsi-ld:Streetlight:1/attrs",
            Topic("", "entity", "urn:ngsi-ld:Streetlight:1"),
        ),
        ("cityfabric/minsk/devices/meter-7", Topic("minsk", "device", "meter-7")),
        ("cityfabric/default/devices/a:b.c-d_e", Topic("", "device", "a:b.c-d_e")),
    ],
)
def test_good_topics(topic: str, expected: Topic) -> None:
    assert parse_topic(topic) == expected
    assert parse_topic(topic) is parse_topic(topic)  # cached


@pytest.mark.parametrize(
    ("topic", "says"),
    [
        ("other/default/devices/x", "is not cityfabric/<tenant>"),
        ("cityfabric/default/devices", "is not cityfabric/<tenant>"),
        ("cityfabric/default/devices/", "is not cityfabric/<tenant>"),
        ("cityfabric/default/entities/urn:x:1", "is not cityfabric/<tenant>"),
        ("cityfabric/default/entities/urn:x:1/other", "is not cityfabric/<tenant>"),
        ("cityfabric/bad tenant/devices/x", "not a valid tenant name"),
        ("cityfabric/" + "t" * 65 + "/devices/x", "not a valid tenant name"),
    ],
)
def test_bad_topics(topic: str, says: str) -> None:
    with pytest.raises(BadRequestData, match=says):
        parse_topic(topic)


def test_tenant_of_unusable_topics_is_the_default() -> None:
    assert tenant_of_topic("cityfabric/minsk/whatever") == "minsk"
    assert tenant_of_topic("cityfabric/bad tenant/devices/x") == ""
    assert tenant_of_topic("elsewhere") == ""


def test_subscriptions_shared_or_not() -> None:
    assert subscriptions("g1") == [
        "$share/g1/cityfabric/+/entities/+/attrs",
        "$share/g1/cityfabric/+/devices/+",
    ]
    assert subscriptions("") == ["cityfabric/+/entities/+/attrs", "cityfabric/+/devices/+"]
