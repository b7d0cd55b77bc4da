"""The stored (expanded) form of an NGSI-LD entity, shared by every layer.

The store keeps each entity as one JSON object, the *doc*, with every term
expanded to its full IRI by the request's @context; responses compact it back
with the caller's @context.

    {
      "id": "urn:ngsi-ld:Streetlight:1",
      "type": ["https://smartdatamodels.org/dataModel.Streetlighting/Streetlight"],
      "scope": ["/Madrid/Gran_Via"],                        # optional
      "createdAt": "2026-11-23T16:00:00.000000Z",           # system attributes, UTC
      "modifiedAt": "2026-11-23T16:00:00.000000Z",
      "attrs": {
        "<attribute IRI>": [<instance>, ...]                # one per datasetId;
      }                                                     # the default one has none
    }

An *instance* is a dict with the kind in "type" and the kind's value member:

    Property          "value": any JSON, kept verbatim (compound keys are not expanded)
    GeoProperty       "value": a GeoJSON geometry
    Relationship      "object": an IRI string; optional "objectType": expanded IRI
    LanguageProperty  "languageMap": {"en": "...", "@none": "..."}
    ListProperty      "valueList": [any JSON, ...]
    ListRelationship  "objectList": [IRI string, ...]
    JsonProperty      "json": any JSON, never interpreted
    VocabProperty     "vocab": an expanded IRI or a list of them

plus optional "observedAt", "unitCode", "datasetId", the system "createdAt" and
"modifiedAt", and its sub-attributes: every other key is a sub-attribute IRI
whose value is a single instance of the same shape (recursively).

An instance without "createdAt"/"modifiedAt" was created with the entity and
not changed since: both are the entity's "createdAt". Leaving them out keeps
the common doc a third smaller.
"""

from __future__ import annotations

from typing import Any, Final

EntityDoc = dict[str, Any]
Instance = dict[str, Any]

NGSI_LD: Final = "https://uri.etsi.org/ngsi-ld/"
DEFAULT_VOCAB: Final = "https://uri.etsi.org/ngsi-ld/default-context/"
CORE_CONTEXT_URL: Final = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld"
LOCATION: Final = NGSI_LD + "location"
OBSERVATION_SPACE: Final = NGSI_LD + "observationSpace"
OPERATION_SPACE: Final = NGSI_LD + "operationSpace"

# attribute kind -> the instance member that carries its value
VALUE_MEMBER: Final[dict[str, str]] = {
    "Property": "value",
    "GeoProperty": "value",
    "Relationship": "object",
    "LanguageProperty": "languageMap",
    "ListProperty": "valueList",
    "ListRelationship": "objectList",
    "JsonProperty": "json",
    "VocabProperty": "vocab",
}
KINDS: Final = frozenset(VALUE_MEMBER)

# members of an instance that are not sub-attributes
INSTANCE_KEYS: Final = frozenset(
    {
        "type",
        "value",
        "object",
        "objectType",
        "languageMap",
        "valueList",
        "objectList",
        "json",
        "vocab",
        "observedAt",
        "unitCode",
        "datasetId",
        "createdAt",
        "modifiedAt",
    }
)

# metadata names a q path may use after an attribute (attr.observedAt>...)
METADATA: Final = frozenset({"observedAt", "createdAt", "modifiedAt", "unitCode", "datasetId"})
