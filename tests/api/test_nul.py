"""U+0000 (NUL) anywhere in a request is a 400 BadRequestData on every engine, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.test_entities import B, create, lamp, problem

NUL = "\x00"
LAMP = "urn:ngsi-ld:Streetlight:1"


def prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def refused(r: Any, where: str) -> None:
    body = problem(r, 400, "BadRequestData")
    assert "U+0000" in body["detail"] and where in body["detail"], body


BODIES = [
    ("POST", "/entities", {**lamp(2), "powerState": prop(f"o{NUL}n")}, "powerState.value"),
    ("POST", "/entities", {**lamp(2), "id": f"urn:ngsi-ld:Streetlight:{NUL}2"}, "at id"),
    ("POST", "/entities", {**lamp(2), "name": prop({"deep": [1, f"{NUL}"]})}, "deep[1]"),
    ("POST", "/entities", {**lamp(2), "name": prop({f"k{NUL}": 1})}, "value.k\\u0000"),
    ("POST", "/entityOperations/upsert", [lamp(2), {**lamp(3), "type": NUL}], "[1].type"),
    ("POST", "/entityOperations/create", [{**lamp(2), "powerState": prop(NUL)}], "[0]"),
    ("PATCH", f"/entities/{LAMP}/attrs", {"powerState": prop(f"off{NUL}")}, "powerState"),
    ("PATCH", f"/entities/{LAMP}/attrs/powerState", prop(NUL), "value"),
    ("POST", f"/entities/{LAMP}/attrs", {"note": prop(NUL)}, "note"),
    ("PUT", f"/entities/{LAMP}", {"type": "Streetlight", "x": prop(NUL)}, "x.value"),
    (
        "POST",
        "/temporal/entities",
        {
            "id": "urn:ngsi-ld:Streetlight:9",
            "type": "Streetlight",
            "powerState": [{**prop(NUL), "observedAt": "2024-01-01T00:00:00Z"}],
        },
        "powerState[0].value",
    ),
    (
        "POST",
        "/subscriptions",
        {
            "type": "Subscription",
            "entities": [{"type": "Streetlight"}],
            "q": f'powerState=="{NUL}"',
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}},
        },
        "at q",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "where"), BODIES)
def test_nul_in_a_body_is_bad_request_data(
    client: TestClient, method: str, path: str, body: Any, where: str
) -> None:
    create(client, lamp(1))
    refused(client.request(method, B + path, json=body), where)
    # nothing of a refused request is written
    assert client.get(f"{B}/entities/urn:ngsi-ld:Streetlight:2").status_code == 404
    assert client.get(f"{B}/entities/{LAMP}").json()["powerState"]["value"] == "on"


QUERIES = [
    {"type": "Streetlight", "q": f'powerState=="o{NUL}n"'},
    {"type": "Streetlight", "q": f'powerState~="{NUL}"'},
    {"id": f"urn:ngsi-ld:Streetlight:{NUL}1"},
    {"type": "Streetlight", "idPattern": f"{NUL}.*"},
    {"type": "Streetlight", "scopeQ": f"/a{NUL}"},
    {"type": "Streetlight", "attrs": f"powerState{NUL}"},
]


@pytest.mark.parametrize("params", QUERIES)
def test_nul_in_a_query_string_is_bad_request_data(
    client: TestClient, params: dict[str, str]
) -> None:
    create(client, lamp(1))
    refused(client.get(f"{B}/entities", params=params), "query string")
    temporal = {**params, "timerel": "after", "timeAt": "2000-01-01T00:00:00Z"}
    refused(client.get(f"{B}/temporal/entities", params=temporal), "query string")


def test_nul_in_a_path_is_bad_request_data(client: TestClient) -> None:
    create(client, lamp(1))
    refused(client.get(f"{B}/entities/urn:ngsi-ld:Streetlight:%001"), "path")
    refused(client.delete(f"{B}/entities/urn:ngsi-ld:Streetlight:1%00"), "path")
    refused(client.get(f"{B}/temporal/entities/{LAMP}%00"), "path")
    assert client.get(f"{B}/entities/{LAMP}").status_code == 200


def test_an_escaped_backslash_u0000_is_plain_text(client: TestClient) -> None:
    """The six characters \\u0000 are text, not NUL: stored and answered unchanged."""
    text = "C:\\u0000\\dir"
    create(client, {**lamp(1), "note": prop(text)})
    assert client.get(f"{B}/entities/{LAMP}").json()["note"]["value"] == text
    r = client.get(f"{B}/entities", params={"type": "Streetlight", "q": 'note~="u0000"'})
    assert [e["id"] for e in r.json()] == [LAMP], r.text
