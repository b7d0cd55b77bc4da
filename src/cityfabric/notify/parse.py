"""Subscriptions from request bodies: create (clause 5.8.1) and update (clause 5.8.2).

Both walk the same declarative member tables (`_TOP`, `_NOTIFICATION`, `_ENDPOINT`)
over a draft of field values, build the dataclasses of `model.py`, then check the
rules that tie members together, so a PATCH is validated as a whole exactly like a
creation. Every violation is a `BadRequestData` whose detail names the member by its
JSON path (`notification.endpoint.uri`, `entities[1].type`).

Where the specification leaves room:

- Read-only members a GET shows (status, createdAt, modifiedAt, and in notification
  status, timesSent, timesFailed, lastNotification, lastSuccess, lastFailure) are
  ignored in requests, so a subscription read with GET can be sent back as it is.
- Members CityFabric does not implement (csf, temporalQ, and in notification join,
  joinLevel, containedBy, pick, omit) raise OperationNotSupported rather than being
  ignored; any other unknown member is BadRequestData.
- An entity selector needs a type (mandatory in clause 5.2.33); it may be a type
  expression (clause 4.17) such as `Building,Tower` or `(Building;Landmark)`.
- q and scopeQ are percent-decoded once before parsing, as in a URL: payloads of the
  ETSI test suite write `name=="Eiffel%20Tower"`.
- expiresAt must lie in the future whenever a request sets it; it is stored in UTC
  with milliseconds. throttling may be 0 (none); timeInterval, timeout and cooldown
  must be greater than 0.
- PATCH merges like JSON Merge Patch: a member present replaces the stored one, null
  or "urn:ngsi-ld:null" removes it (back to its default), notification and its
  endpoint merge member by member, arrays are replaced whole. Mandatory members
  (notification, endpoint, uri) cannot be removed; id and type cannot change. Names
  in the fragment expand with the PATCH request's @context; the subscription keeps
  the @context it was created with (notifications keep their names).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, Final

from cityfabric.ngsild.entity import is_uri
from cityfabric.ngsild.errors import BadRequestData, OperationNotSupported
from cityfabric.ngsild.geojson import describe
from cityfabric.ngsild.model import NGSI_LD
from cityfabric.notify import endpoint, members
from cityfabric.notify.members import Input, Names, Reader, json_object, unknown_member
from cityfabric.notify.model import (
    ACCEPTS,
    FORMATS,
    Endpoint,
    NotificationParams,
    Subscription,
    new_subscription_id,
)

NULL: Final = "urn:ngsi-ld:null"
SUBSCRIPTION_TYPE: Final = NGSI_LD + "Subscription"


@dataclass(frozen=True)
class _Level:
    """One JSON object of a subscription: its dataclass and its members by JSON name."""

    path: str
    cls: type[Any]
    members: Mapping[str, _Member]
    ignored: frozenset[str] = frozenset()  # read-only or handled before the walk
    unsupported: frozenset[str] = frozenset()

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key


@dataclass(frozen=True)
class _Member:
    field: str
    kind: Reader | _Level  # how to read the value: a parser or a nested object
    defaulted: bool = False  # has a default: record in Subscription.given when written


# --- public API ----------------------------------------------------------------------


def parse_subscription(
    body: object, ctx: Names, *, now: str, subscription_id: str | None = None
) -> Subscription:
    """A Subscription from a create request body (clause 5.8.1), stamped with `now`.

    `subscription_id` is the id to give it when the body has none (default: a new
    `urn:ngsi-ld:Subscription:<uuid4>`).
    """
    obj = json_object(body, "a subscription")
    if "type" not in obj:
        raise BadRequestData('a subscription needs "type": "Subscription"')
    _check_type(obj["type"], ctx)
    draft: dict[str, Any] = {
        "id": _subscription_id(obj["id"]) if "id" in obj else subscription_id,
        "context": ctx.source,
        "created_at": now,
        "modified_at": now,
    }
    if draft["id"] is None:
        draft["id"] = new_subscription_id()
    given: set[str] = set()
    _merge(_TOP, draft, obj, given, Input(ctx, now))
    draft["given"] = frozenset(given)
    return _check(_build(_TOP, draft))


def patch_subscription(sub: Subscription, body: object, ctx: Names, *, now: str) -> Subscription:
    """`sub` updated with a Subscription fragment (clause 5.8.2), validated as a whole."""
    obj = json_object(body, "a subscription fragment")
    if "id" in obj and obj["id"] != sub.id:
        raise BadRequestData(f"id cannot change: this subscription is {sub.id}")
    if "type" in obj:
        _check_type(obj["type"], ctx)
    if all(key in _TOP.ignored for key in obj):
        raise BadRequestData("the fragment holds no member to update")
    draft = _draft(_TOP, sub)
    given = set(sub.given)
    _merge(_TOP, draft, obj, given, Input(ctx, now))
    draft["modified_at"] = now
    draft["given"] = frozenset(given)
    return _check(_build(_TOP, draft))


# --- the walk ------------------------------------------------------------------------


def _merge(
    level: _Level, draft: dict[str, Any], obj: Mapping[str, Any], given: set[str], inp: Input
) -> None:
    """Apply the members of `obj` to `draft` (field values of `level.cls`)."""
    for key, value in obj.items():
        where = level.where(key)
        removing = value is None or value == NULL
        if key in level.ignored or (removing and key in level.unsupported):
            continue
        if key in level.unsupported:
            raise OperationNotSupported(f"{where} is not supported by this broker")
        member = level.members.get(key)
        if member is None:
            raise unknown_member(where, key, level.members)
        if removing:
            _remove(level, member, draft, given, where)
        elif isinstance(member.kind, _Level):
            current = draft.get(member.field)
            inner = dict(current) if isinstance(current, dict) else {}
            _merge(member.kind, inner, json_object(value, where), given, inp)
            draft[member.field] = inner
        else:
            draft[member.field] = member.kind(value, where, inp)
            if member.defaulted:
                given.add(where)


def _remove(
    level: _Level, member: _Member, draft: dict[str, Any], given: set[str], where: str
) -> None:
    defaults = _defaults(level.cls)
    if member.field not in defaults:
        raise BadRequestData(f"{where} is mandatory: it cannot be null")
    draft[member.field] = defaults[member.field]
    given.discard(where)


def _build(level: _Level, draft: dict[str, Any]) -> Any:
    values = dict(draft)
    defaults = _defaults(level.cls)
    for key, member in level.members.items():
        if member.field not in values and member.field not in defaults:
            raise BadRequestData(f"{level.where(key)} is mandatory and missing")
        if isinstance(member.kind, _Level) and isinstance(values[member.field], dict):
            values[member.field] = _build(member.kind, values[member.field])
    return level.cls(**values)


def _draft(level: _Level, obj: Any) -> dict[str, Any]:
    values = {f.name: getattr(obj, f.name) for f in fields(obj)}
    for member in level.members.values():
        if isinstance(member.kind, _Level):
            values[member.field] = _draft(member.kind, values[member.field])
    return values


def _defaults(cls: type[Any]) -> dict[str, Any]:
    return {f.name: f.default for f in fields(cls) if f.default is not MISSING}


def _check(sub: Subscription) -> Subscription:
    """The rules that tie members together (clause 5.2.12 and 5.2.14)."""
    if not sub.entities and sub.watched_attributes is None:
        raise BadRequestData("a subscription needs entities, watchedAttributes or both")
    if sub.time_interval is not None and sub.watched_attributes is not None:
        raise BadRequestData(
            "timeInterval (periodic notifications) and watchedAttributes (notifications "
            "on change) exclude each other"
        )
    if sub.time_interval is not None and sub.throttling is not None:
        raise BadRequestData("throttling and timeInterval exclude each other")
    if sub.notification.show_changes and sub.notification.format == "keyValues":
        raise BadRequestData(
            "notification.showChanges cannot be true with format keyValues, "
            "which has no place for previous values"
        )
    endpoint.check_endpoint(sub.notification.endpoint, "notification.endpoint")
    return sub


# --- helpers -------------------------------------------------------------------------


def _check_type(value: object, names: Names) -> None:
    if isinstance(value, str) and (
        value == "Subscription" or names.expand(value) == SUBSCRIPTION_TYPE
    ):
        return
    raise BadRequestData(f'type must be "Subscription", got {describe(value)}')


def _subscription_id(value: object) -> str:
    if isinstance(value, str) and is_uri(value):
        return value
    raise BadRequestData(
        f"id must be a URI such as 'urn:ngsi-ld:Subscription:001', got {describe(value)}"
    )


# --- the member tables ---------------------------------------------------------------

_ENDPOINT = _Level(
    "notification.endpoint",
    Endpoint,
    {
        "uri": _Member("uri", endpoint.endpoint_uri),
        "accept": _Member("accept", members.choice(ACCEPTS), defaulted=True),
        "timeout": _Member("timeout", members.positive),
        "cooldown": _Member("cooldown", members.positive),
        "receiverInfo": _Member("receiver_info", endpoint.receiver_info),
        "notifierInfo": _Member("notifier_info", endpoint.notifier_info),
    },
)

_NOTIFICATION = _Level(
    "notification",
    NotificationParams,
    {
        "attributes": _Member("attributes", members.attribute_names),
        "sysAttrs": _Member("sys_attrs", members.boolean, defaulted=True),
        "format": _Member("format", members.choice(FORMATS), defaulted=True),
        "showChanges": _Member("show_changes", members.boolean, defaulted=True),
        "endpoint": _Member("endpoint", _ENDPOINT),
    },
    ignored=frozenset(
        {
            "status",
            "timesSent",
            "timesFailed",
            "lastNotification",
            "lastSuccess",
            "lastFailure",
            "lastFailureReason",
        }
    ),
    unsupported=frozenset({"join", "joinLevel", "containedBy", "pick", "omit"}),
)

_TOP = _Level(
    "",
    Subscription,
    {
        "subscriptionName": _Member("subscription_name", members.text),
        "description": _Member("description", members.text),
        "entities": _Member("entities", members.entities),
        "watchedAttributes": _Member("watched_attributes", members.attribute_names),
        "notificationTrigger": _Member("notification_trigger", members.triggers),
        "timeInterval": _Member("time_interval", members.positive),
        "q": _Member("q", members.q_filter),
        "geoQ": _Member("geo_q", members.geo_filter),
        "scopeQ": _Member("scope_q", members.scope_filter),
        "lang": _Member("lang", members.lang),
        "datasetId": _Member("dataset_ids", members.dataset_ids),
        "isActive": _Member("is_active", members.boolean, defaulted=True),
        "expiresAt": _Member("expires_at", members.expires_at),
        "throttling": _Member("throttling", members.non_negative),
        "jsonldContext": _Member("jsonld_context", endpoint.context_url),
        "notification": _Member("notification", _NOTIFICATION),
    },
    ignored=frozenset({"id", "type", "@context", "status", "createdAt", "modifiedAt"}),
    unsupported=frozenset({"csf", "temporalQ"}),
)
