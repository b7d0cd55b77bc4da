"""The NGSI-LD Subscription (GS CIM 009 clauses 5.2.12, 5.2.14, 5.2.15, 5.2.33) in stored form.

A `Subscription` is immutable and store-free. Names are kept expanded: entity
types, watched attributes and notification attributes are IRIs, expanded with
the @context of the request that wrote them. The subscription's own @context
(`context`: the source value, a URL, a list or an object) is kept to compact
notifications when no `jsonldContext` is given.

q, scopeQ, entity type expressions and geoQ are kept twice: as written (so GET
shows what the client sent, and storage re-parses it) and as the expanded tree
the matcher evaluates. `terms` records the IRI of every name the text used, so
the tree can be rebuilt from the text without the original @context.

Members with a default (isActive, notification format, sysAttrs, showChanges,
endpoint accept) hold the effective value; `given` lists those the client wrote
(as JSON paths such as "notification.format"), so GET shows them and only them.

Parsing lives in `parse.py` (member readers in `members.py` and `endpoint.py`),
the GET representation in `render.py`, the storage codec in `codec.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeAlias, get_args
from urllib.parse import unquote

from cityfabric.ngsild.errors import BadRequestData
from cityfabric.ngsild.geo import GeoQuery, parse_geo_query
from cityfabric.ngsild.query import (
    QExpr,
    ScopeExpr,
    TypeAnd,
    TypeExpr,
    TypeName,
    expand_q,
    expand_types,
    parse_q,
    parse_scope_q,
    parse_types,
)
from cityfabric.ngsild.render import Format

Trigger: TypeAlias = Literal[
    "entityCreated",
    "entityUpdated",
    "entityDeleted",
    "attributeCreated",
    "attributeUpdated",
    "attributeDeleted",
]
TRIGGERS: Final[tuple[Trigger, ...]] = get_args(Trigger)
# Table 5.2.12-1: "If not present, the default is the combination attributeCreated and
# attributeUpdated. entityUpdated is equivalent to attributeCreated, attributeUpdated and
# attributeDeleted."
DEFAULT_TRIGGERS: Final[tuple[Trigger, ...]] = ("attributeCreated", "attributeUpdated")
FORMATS: Final[tuple[Format, ...]] = get_args(Format)
Accept: TypeAlias = Literal["application/json", "application/ld+json", "application/geo+json"]
ACCEPTS: Final[tuple[Accept, ...]] = get_args(Accept)
State: TypeAlias = Literal["active", "paused", "expired", "failed"]

HTTP_SCHEMES: Final = ("http", "https")
MQTT_SCHEMES: Final = ("mqtt", "mqtts")
MQTT_QOS: Final = "MQTT-QoS"  # notifierInfo keys of the MQTT binding (clause 7.2)
MQTT_VERSION: Final = "MQTT-Version"
MQTT_QOS_VALUES: Final = ("0", "1", "2")
MQTT_VERSIONS: Final = ("mqtt3.1.1", "mqtt5.0")
DEFAULT_MQTT_VERSION: Final = "mqtt5.0"

Terms: TypeAlias = tuple[tuple[str, str], ...]  # (name as written, IRI), sorted
KeyValues: TypeAlias = tuple[tuple[str, str], ...]  # receiverInfo / notifierInfo pairs
Expand: TypeAlias = Callable[[str], str]


@dataclass(frozen=True)
class Endpoint:
    """Where and how notifications go (clause 5.2.15); timeout and cooldown in milliseconds."""

    uri: str
    accept: Accept = "application/json"
    timeout: float | None = None
    cooldown: float | None = None
    receiver_info: KeyValues = ()
    notifier_info: KeyValues = ()

    @property
    def scheme(self) -> str:
        return self.uri.split(":", 1)[0].lower()

    @property
    def is_mqtt(self) -> bool:
        return self.scheme in MQTT_SCHEMES

    @property
    def mqtt_qos(self) -> int:
        """The MQTT-QoS of notifierInfo (0 when absent)."""
        return int(_lookup(self.notifier_info, MQTT_QOS) or "0")

    @property
    def mqtt_version(self) -> str:
        """The MQTT-Version of notifierInfo (mqtt5.0 when absent)."""
        return _lookup(self.notifier_info, MQTT_VERSION) or DEFAULT_MQTT_VERSION


def _lookup(pairs: KeyValues, key: str) -> str | None:
    wanted = key.lower()
    return next((v for k, v in pairs if k.lower() == wanted), None)


@dataclass(frozen=True)
class NotificationParams:
    """What a notification holds (clause 5.2.14); attributes are IRIs, None means all."""

    endpoint: Endpoint
    attributes: tuple[str, ...] | None = None
    sys_attrs: bool = False
    format: Format = "normalized"
    show_changes: bool = False


@dataclass(frozen=True)
class EntitySelector:
    """One member of `entities` (clause 5.2.33); `id` takes precedence over `id_pattern`."""

    type: str  # the type expression as written
    types: TypeExpr  # ... and expanded
    terms: Terms = ()
    id: str | None = None
    id_pattern: str | None = None


@dataclass(frozen=True)
class QFilter:
    """A q expression: as written, expanded, and the names it used."""

    text: str
    tree: QExpr
    terms: Terms = ()


@dataclass(frozen=True)
class ScopeFilter:
    """A scopeQ expression, as written and parsed (scopes hold no names to expand)."""

    text: str
    tree: ScopeExpr


@dataclass(frozen=True)
class GeoFilter:
    """A geoQ: the member as written (geometry, coordinates, georel, geoproperty), parsed."""

    member: Mapping[str, Any]
    query: GeoQuery  # geoproperty expanded


@dataclass(frozen=True)
class Subscription:
    """An NGSI-LD Subscription (clause 5.2.12) in expanded form; see the module docstring."""

    id: str
    notification: NotificationParams
    context: Any  # the @context source value of the creating request
    created_at: str
    modified_at: str
    subscription_name: str | None = None
    description: str | None = None
    entities: tuple[EntitySelector, ...] = ()
    watched_attributes: tuple[str, ...] | None = None  # IRIs; None means any attribute
    notification_trigger: tuple[Trigger, ...] = DEFAULT_TRIGGERS
    time_interval: float | None = None  # seconds, periodic notification
    q: QFilter | None = None
    geo_q: GeoFilter | None = None
    scope_q: ScopeFilter | None = None
    lang: str | None = None
    dataset_ids: tuple[str, ...] | None = None  # "@none" stands for the default instance
    is_active: bool = True
    expires_at: str | None = None  # UTC, milliseconds, "Z" (comparable as text with now_iso)
    throttling: float | None = None  # seconds
    jsonld_context: str | None = None  # compacts notifications instead of `context`
    given: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SubscriptionStatus:
    """Delivery counters and times, kept by the notifier (not part of the Subscription)."""

    times_sent: int = 0
    times_failed: int = 0
    last_notification: str | None = None
    last_success: str | None = None
    last_failure: str | None = None
    failure_reason: str | None = None

    @property
    def failing(self) -> bool:
        """True when the last delivery failed (lastFailure newer than lastSuccess)."""
        if self.last_failure is None:
            return False
        return self.last_success is None or instant(self.last_failure) > instant(self.last_success)


def new_subscription_id() -> str:
    """A fresh `urn:ngsi-ld:Subscription:<uuid4>`."""
    return f"urn:ngsi-ld:Subscription:{uuid.uuid4()}"


def status_of(sub: Subscription, counters: SubscriptionStatus, now: str) -> State:
    """The status a GET shows.

    Expiry wins over a pause: re-activating an expired subscription does not revive it
    (clause 5.8.2), only a later expiresAt does.
    """
    if sub.expires_at is not None and instant(sub.expires_at) <= instant(now):
        return "expired"
    if not sub.is_active:
        return "paused"
    return "failed" if counters.failing else "active"


def watched(sub: Subscription) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    """The index keys of `sub`: entity type IRIs and watched attribute IRIs (None: any).

    Every entity a selector matches has at least one of the selector's keys: an OR
    contributes all its terms, an AND one of its terms (a match has them all). So types
    are None only when there are no selectors (a watchedAttributes-only subscription).
    """
    types: frozenset[str] | None = None
    if sub.entities:
        types = frozenset().union(*(type_keys(s.types) for s in sub.entities))
    attrs = None if sub.watched_attributes is None else frozenset(sub.watched_attributes)
    return types, attrs


def type_keys(expr: TypeExpr) -> frozenset[str]:
    """Type names of which every entity matching `expr` has at least one."""
    if isinstance(expr, TypeName):
        return frozenset((expr.name,))
    if isinstance(expr, TypeAnd):
        return min((type_keys(t) for t in expr.terms), key=len)
    return frozenset().union(*(type_keys(t) for t in expr.terms))


# --- text to tree: one definition shared by parsing and the storage codec -------------


def q_tree(text: str, expand: Expand) -> QExpr:
    """The expanded tree of a q text; percent-escapes are decoded first, as in a URL."""
    return expand_q(parse_q(unquote(text)), expand)


def scope_tree(text: str) -> ScopeExpr:
    """The tree of a scopeQ text; percent-escapes are decoded first."""
    return parse_scope_q(unquote(text))


def type_tree(text: str, expand: Expand) -> TypeExpr:
    """The expanded tree of an entity type expression."""
    return expand_types(parse_types(text), expand)


def geo_query(member: Mapping[str, Any], expand: Expand) -> GeoQuery:
    """The GeoQuery of a geoQ member; `expand` maps its geoproperty to an IRI."""
    parsed = parse_geo_query(
        member.get("georel"),
        member.get("geometry"),
        member.get("coordinates"),
        member.get("geoproperty"),
    )
    if parsed is None:
        raise BadRequestData("geoQ needs georel, geometry and coordinates")
    name = member.get("geoproperty")
    return replace(parsed, geoproperty=expand(name)) if isinstance(name, str) else parsed


# --- instants ------------------------------------------------------------------------


def instant(text: str) -> datetime:
    """An ISO 8601 date-time as an aware datetime; without an offset it is UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def utc_text(value: datetime) -> str:
    """`value` as NGSI-LD writes system times: UTC, milliseconds, "Z"."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + f".{utc.microsecond // 1000:03d}Z"
