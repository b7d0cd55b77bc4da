"""A Subscription as GET /subscriptions returns it (clause 5.8.3), compacted for the caller.

Members appear as the client wrote them: optional members only when given, defaulted
ones (isActive, format, sysAttrs, showChanges, accept) only when written (see
`Subscription.given`); notificationTrigger always, with its default filled in. q and
entity type expressions come back as written when the caller's @context gives their
names the same meaning, else re-printed with the caller's names.

Added by the system: status (active | paused | expired | failed, see `status_of`) and
in notification timesSent, timesFailed, lastNotification, lastSuccess, lastFailure,
status (ok | failed, once a delivery was tried) and, a CityFabric extension,
lastFailureReason.
"""

from __future__ import annotations

import re
from typing import Any

from cityfabric.ngsild.query import expand_q, expand_types, print_q, print_types
from cityfabric.ngsild.render import Compact
from cityfabric.notify.model import (
    EntitySelector,
    GeoFilter,
    KeyValues,
    QFilter,
    Subscription,
    SubscriptionStatus,
    Terms,
    status_of,
)

# a term or compact IRI as the q and type grammars read it (see ngsild/qparse.py)
_EXPRESSION_NAME = re.compile(r"(?:[^\W\d_][\w-]*:)?[^\W\d_]\w*")


def render_subscription(
    sub: Subscription,
    compact: Compact,
    status: SubscriptionStatus,
    *,
    now: str,
    sys_attrs: bool = False,
) -> dict[str, Any]:
    """The JSON body of a GET; `now` decides expiry, `sys_attrs` adds createdAt/modifiedAt."""
    out: dict[str, Any] = {"id": sub.id, "type": "Subscription"}
    _put(out, "subscriptionName", sub.subscription_name)
    _put(out, "description", sub.description)
    if sub.entities:
        out["entities"] = [_selector(s, compact) for s in sub.entities]
    if sub.watched_attributes is not None:
        out["watchedAttributes"] = [compact(a) for a in sub.watched_attributes]
    out["notificationTrigger"] = list(sub.notification_trigger)
    _put(out, "timeInterval", sub.time_interval)
    if sub.q is not None:
        out["q"] = _q_text(sub.q, compact)
    if sub.geo_q is not None:
        out["geoQ"] = _geo_q(sub.geo_q, compact)
    if sub.scope_q is not None:
        out["scopeQ"] = sub.scope_q.text
    _put(out, "lang", sub.lang)
    if sub.dataset_ids is not None:
        out["datasetId"] = list(sub.dataset_ids)
    if "isActive" in sub.given:
        out["isActive"] = sub.is_active
    _put(out, "expiresAt", sub.expires_at)
    _put(out, "throttling", sub.throttling)
    _put(out, "jsonldContext", sub.jsonld_context)
    out["notification"] = _notification(sub, compact, status)
    out["status"] = status_of(sub, status, now)
    if sys_attrs:
        out["createdAt"] = sub.created_at
        out["modifiedAt"] = sub.modified_at
    return out


def _put(out: dict[str, Any], key: str, value: object) -> None:
    if value is not None:
        out[key] = value


def _same_names(terms: Terms, compact: Compact) -> bool:
    return all(compact(iri) == name for name, iri in terms)


def _expression_name(compact: Compact) -> Compact:
    """`compact`, but keeping the IRI where the short name does not fit q or type syntax.

    JSON-LD may compact to `prefix:path/with/slashes`, which those grammars reject.
    """

    def name(iri: str) -> str:
        short = compact(iri)
        return short if short == iri or _EXPRESSION_NAME.fullmatch(short) else iri

    return name


def _selector(sel: EntitySelector, compact: Compact) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "id", sel.id)
    _put(out, "idPattern", sel.id_pattern)
    if _same_names(sel.terms, compact):
        out["type"] = sel.type
    else:
        out["type"] = print_types(expand_types(sel.types, _expression_name(compact)))
    return out


def _q_text(q: QFilter, compact: Compact) -> str:
    if _same_names(q.terms, compact):
        return q.text
    return print_q(expand_q(q.tree, _expression_name(compact)))


def _geo_q(geo: GeoFilter, compact: Compact) -> dict[str, Any]:
    out = dict(geo.member)
    if "geoproperty" in out:
        out["geoproperty"] = compact(geo.query.geoproperty)
    return out


def _notification(
    sub: Subscription, compact: Compact, status: SubscriptionStatus
) -> dict[str, Any]:
    params = sub.notification
    out: dict[str, Any] = {}
    if params.attributes is not None:
        out["attributes"] = [compact(a) for a in params.attributes]
    for key, value in (
        ("sysAttrs", params.sys_attrs),
        ("format", params.format),
        ("showChanges", params.show_changes),
    ):
        if f"notification.{key}" in sub.given:
            out[key] = value
    out["endpoint"] = _endpoint(sub)
    out["timesSent"] = status.times_sent
    out["timesFailed"] = status.times_failed
    _put(out, "lastNotification", status.last_notification)
    _put(out, "lastSuccess", status.last_success)
    _put(out, "lastFailure", status.last_failure)
    if status.last_success is not None or status.last_failure is not None:
        out["status"] = "failed" if status.failing else "ok"
    _put(out, "lastFailureReason", status.failure_reason)
    return out


def _endpoint(sub: Subscription) -> dict[str, Any]:
    ep = sub.notification.endpoint
    out: dict[str, Any] = {"uri": ep.uri}
    if "notification.endpoint.accept" in sub.given:
        out["accept"] = ep.accept
    _put(out, "timeout", ep.timeout)
    _put(out, "cooldown", ep.cooldown)
    if ep.receiver_info:
        out["receiverInfo"] = _pairs(ep.receiver_info)
    if ep.notifier_info:
        out["notifierInfo"] = _pairs(ep.notifier_info)
    return out


def _pairs(pairs: KeyValues) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in pairs]
