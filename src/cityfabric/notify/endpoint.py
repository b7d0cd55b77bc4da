"""Readers of the notification endpoint (clause 5.2.15) and of jsonldContext.

Endpoints are absolute http, https, mqtt or mqtts URIs with a host; an MQTT URI names
the topic to publish to (`mqtt://[user:password@]host[:port]/topic`, no wildcards).
receiverInfo becomes HTTP headers (or MQTT metadata), so its keys must be header
names and neither key nor value may hold control characters.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import SplitResult, urlsplit

from cityfabric.ngsild.entity import is_uri
from cityfabric.ngsild.errors import BadRequestData
from cityfabric.ngsild.geojson import describe
from cityfabric.notify.members import Input, json_object
from cityfabric.notify.model import (
    HTTP_SCHEMES,
    MQTT_QOS,
    MQTT_QOS_VALUES,
    MQTT_SCHEMES,
    MQTT_VERSION,
    MQTT_VERSIONS,
    Endpoint,
    KeyValues,
)

MAX_URI: Final = 2048
MAX_PAIRS: Final = 64  # receiverInfo / notifierInfo entries
MAX_PAIR_TEXT: Final = 1024

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 9110 token
_HEADER_VALUE = re.compile(r"^[\x20-\x7e\t]*$")
# the notifier writes these headers itself: framing, accept, @context, tenant
_RESERVED_HEADERS: Final = frozenset(
    {
        "connection",
        "content-length",
        "content-type",
        "host",
        "keep-alive",
        "link",
        "ngsild-tenant",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_MQTT_KEYS: Final = {MQTT_QOS.lower(): MQTT_QOS_VALUES, MQTT_VERSION.lower(): MQTT_VERSIONS}


def endpoint_uri(value: object, where: str, inp: Input) -> str:
    """An http, https, mqtt or mqtts URI with a host; MQTT ones name a topic."""
    if not isinstance(value, str) or not value or len(value) > MAX_URI or _has_space(value):
        raise BadRequestData(
            f"{where} must be an absolute URI (http, https, mqtt or mqtts), got {describe(value)}"
        )
    parts = _split(value, where)
    scheme = parts.scheme.lower()
    if scheme not in (*HTTP_SCHEMES, *MQTT_SCHEMES):
        raise BadRequestData(f"{where} must use http, https, mqtt or mqtts, got {describe(value)}")
    if not parts.hostname:
        raise BadRequestData(f"{where} has no host: {describe(value)}")
    topic = parts.path[1:]
    if scheme in MQTT_SCHEMES and (not topic or "+" in topic or "#" in value or parts.query):
        raise BadRequestData(
            f"{where} must name a topic without wildcards: mqtt://host[:port]/topic, "
            f"got {describe(value)}"
        )
    return value


def context_url(value: object, where: str, inp: Input) -> str:
    """jsonldContext: the http(s) URL of the @context for notifications."""
    if isinstance(value, str) and is_uri(value):
        parts = _split(value, where)
        if parts.scheme.lower() in HTTP_SCHEMES and parts.hostname:
            return value
    raise BadRequestData(
        f"{where} must be the http(s) URL of a JSON-LD @context, got {describe(value)}"
    )


def receiver_info(value: object, where: str, inp: Input) -> KeyValues:
    """receiverInfo pairs: header names as keys, no control characters."""
    return _pairs(value, where, headers=True)


def notifier_info(value: object, where: str, inp: Input) -> KeyValues:
    """notifierInfo pairs (the MQTT keys are checked by `check_endpoint`)."""
    return _pairs(value, where, headers=False)


def check_endpoint(endpoint: Endpoint, where: str) -> None:
    """The rules that depend on the scheme (after a PATCH may have changed it).

    MQTT keys of notifierInfo only on MQTT endpoints, with their allowed values; for
    HTTP, receiverInfo values become header values and must be printable ASCII.
    """
    for key, value in endpoint.notifier_info:
        options = _MQTT_KEYS.get(key.lower())
        if options is None:
            continue
        if not endpoint.is_mqtt:
            raise BadRequestData(
                f"{where}.notifierInfo: {key} applies to mqtt:// and mqtts:// endpoints only"
            )
        if value not in options:
            raise BadRequestData(
                f"{where}.notifierInfo: {key} must be one of {', '.join(options)}, "
                f"got {describe(value)}"
            )
    if endpoint.is_mqtt:
        return
    for key, value in endpoint.receiver_info:
        if not _HEADER_VALUE.match(value):
            raise BadRequestData(
                f"{where}.receiverInfo: the value of {key} becomes an HTTP header and must be "
                f"printable ASCII, got {describe(value)}"
            )


def _has_space(value: str) -> bool:
    return " " in value or _CONTROL.search(value) is not None


def _split(value: str, where: str) -> SplitResult:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as err:
        raise BadRequestData(f"{where} is not a valid URI ({err}): {describe(value)}") from None
    return parts


def _pairs(value: object, where: str, *, headers: bool) -> KeyValues:
    """An array of {"key", "value"} strings; with `headers`, keys are HTTP header names."""
    if not isinstance(value, list) or len(value) > MAX_PAIRS:
        raise BadRequestData(
            f'{where} must be an array of at most {MAX_PAIRS} {{"key", "value"}} objects, '
            f"got {describe(value)}"
        )
    out: list[tuple[str, str]] = []
    for i, item in enumerate(value):
        at = f"{where}[{i}]"
        obj = json_object(item, at)
        if set(obj) != {"key", "value"}:
            raise BadRequestData(f'{at} must have exactly the members "key" and "value"')
        key, text = obj["key"], obj["value"]
        if not _is_text(key) or not key or (headers and not _HEADER_NAME.match(key)):
            what = "an HTTP header name" if headers else "a non-empty string"
            raise BadRequestData(f"{at}.key must be {what}, got {describe(key)}")
        if headers and key.lower() in _RESERVED_HEADERS:
            raise BadRequestData(f"{at}.key {key!r} is a header the broker sets itself")
        if not _is_text(text):
            raise BadRequestData(
                f"{at}.value must be a string of at most {MAX_PAIR_TEXT} characters "
                f"without control characters, got {describe(text)}"
            )
        if any(k.lower() == key.lower() for k, _ in out):
            raise BadRequestData(f"{at}.key {key!r} is given twice")
        out.append((key, text))
    return tuple(out)


def _is_text(value: object) -> bool:
    return isinstance(value, str) and len(value) <= MAX_PAIR_TEXT and not _CONTROL.search(value)
