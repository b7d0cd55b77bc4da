"""Subscriptions to and from JSON for storage; `from_json(to_json(s)) == s` exactly.

Expressions are stored as written with the IRIs of their names (`terms`), and their
trees rebuilt by the same functions that parsing uses (`model.q_tree` and friends),
so no @context is needed to load. The layout carries a version number `v`.
"""

from __future__ import annotations

from typing import Any, Final, cast

import orjson

from cityfabric.ngsild.render import Format
from cityfabric.notify.model import (
    Accept,
    Endpoint,
    EntitySelector,
    GeoFilter,
    KeyValues,
    NotificationParams,
    QFilter,
    ScopeFilter,
    Subscription,
    Terms,
    Trigger,
    geo_query,
    q_tree,
    scope_tree,
    type_tree,
)

VERSION: Final = 1


def to_json(sub: Subscription) -> bytes:
    """The storage form of `sub` (UTF-8 JSON)."""
    return orjson.dumps(
        {
            "v": VERSION,
            "id": sub.id,
            "context": sub.context,
            "createdAt": sub.created_at,
            "modifiedAt": sub.modified_at,
            "subscriptionName": sub.subscription_name,
            "description": sub.description,
            "entities": [_dump_selector(s) for s in sub.entities],
            "watchedAttributes": _list_or_none(sub.watched_attributes),
            "notificationTrigger": list(sub.notification_trigger),
            "timeInterval": sub.time_interval,
            "q": None if sub.q is None else {"text": sub.q.text, "terms": sub.q.terms},
            "geoQ": None if sub.geo_q is None else _dump_geo(sub.geo_q),
            "scopeQ": None if sub.scope_q is None else sub.scope_q.text,
            "lang": sub.lang,
            "datasetId": _list_or_none(sub.dataset_ids),
            "isActive": sub.is_active,
            "expiresAt": sub.expires_at,
            "throttling": sub.throttling,
            "jsonldContext": sub.jsonld_context,
            "given": sorted(sub.given),
            "notification": _dump_notification(sub.notification),
        }
    )


def from_json(data: bytes) -> Subscription:
    """The Subscription stored as `data` by `to_json`."""
    raw = orjson.loads(data)
    if raw.get("v") != VERSION:
        raise ValueError(f"unknown subscription storage version {raw.get('v')!r}")
    q = raw["q"]
    return Subscription(
        id=raw["id"],
        notification=_load_notification(raw["notification"]),
        context=raw["context"],
        created_at=raw["createdAt"],
        modified_at=raw["modifiedAt"],
        subscription_name=raw["subscriptionName"],
        description=raw["description"],
        entities=tuple(_load_selector(s) for s in raw["entities"]),
        watched_attributes=_tuple_or_none(raw["watchedAttributes"]),
        notification_trigger=tuple(cast(list[Trigger], raw["notificationTrigger"])),
        time_interval=raw["timeInterval"],
        q=None if q is None else _load_q(q),
        geo_q=None if raw["geoQ"] is None else _load_geo(raw["geoQ"]),
        scope_q=None
        if raw["scopeQ"] is None
        else ScopeFilter(raw["scopeQ"], scope_tree(raw["scopeQ"])),
        lang=raw["lang"],
        dataset_ids=_tuple_or_none(raw["datasetId"]),
        is_active=raw["isActive"],
        expires_at=raw["expiresAt"],
        throttling=raw["throttling"],
        jsonld_context=raw["jsonldContext"],
        given=frozenset(raw["given"]),
    )


def _list_or_none(items: tuple[str, ...] | None) -> list[str] | None:
    return None if items is None else list(items)


def _tuple_or_none(items: list[str] | None) -> tuple[str, ...] | None:
    return None if items is None else tuple(items)


def _terms(raw: list[list[str]]) -> Terms:
    return tuple((name, iri) for name, iri in raw)


def _lookup(terms: Terms) -> Any:
    return dict(terms).__getitem__


def _dump_selector(sel: EntitySelector) -> dict[str, Any]:
    return {"type": sel.type, "terms": sel.terms, "id": sel.id, "idPattern": sel.id_pattern}


def _load_selector(raw: dict[str, Any]) -> EntitySelector:
    terms = _terms(raw["terms"])
    types = type_tree(raw["type"], _lookup(terms))
    return EntitySelector(raw["type"], types, terms, raw["id"], raw["idPattern"])


def _load_q(raw: dict[str, Any]) -> QFilter:
    terms = _terms(raw["terms"])
    return QFilter(raw["text"], q_tree(raw["text"], _lookup(terms)), terms)


def _load_scope(text: str) -> ScopeFilter:
    return ScopeFilter(text, scope_tree(text))


def _dump_geo(geo: GeoFilter) -> dict[str, Any]:
    return {"member": geo.member, "geoproperty": geo.query.geoproperty}


def _load_geo(raw: dict[str, Any]) -> GeoFilter:
    iri: str = raw["geoproperty"]
    return GeoFilter(raw["member"], geo_query(raw["member"], lambda _name: iri))


def _dump_notification(params: NotificationParams) -> dict[str, Any]:
    ep = params.endpoint
    return {
        "attributes": _list_or_none(params.attributes),
        "sysAttrs": params.sys_attrs,
        "format": params.format,
        "showChanges": params.show_changes,
        "endpoint": {
            "uri": ep.uri,
            "accept": ep.accept,
            "timeout": ep.timeout,
            "cooldown": ep.cooldown,
            "receiverInfo": ep.receiver_info,
            "notifierInfo": ep.notifier_info,
        },
    }


def _load_notification(raw: dict[str, Any]) -> NotificationParams:
    ep = raw["endpoint"]
    return NotificationParams(
        endpoint=Endpoint(
            uri=ep["uri"],
            accept=cast(Accept, ep["accept"]),
            timeout=ep["timeout"],
            cooldown=ep["cooldown"],
            receiver_info=_pairs(ep["receiverInfo"]),
            notifier_info=_pairs(ep["notifierInfo"]),
        ),
        attributes=_tuple_or_none(raw["attributes"]),
        sys_attrs=raw["sysAttrs"],
        format=cast(Format, raw["format"]),
        show_changes=raw["showChanges"],
    )


def _pairs(raw: list[list[str]]) -> KeyValues:
    return tuple((k, v) for k, v in raw)
