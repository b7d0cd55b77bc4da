"""JSON-LD @context processing: term expansion and compaction for NGSI-LD requests.

`ActiveContext` is the processed, immutable context of one request. It is built
from already-loaded local contexts (remote ones are fetched by
`contexts_store.ContextRegistry`), always with the NGSI-LD core context applied
last, exactly as a JSON-LD 1.1 processor would handle the list
`[<client contexts>..., core]`. Only what NGSI-LD needs is modelled: IRI
mappings of terms, prefixes and `@vocab`. Type coercion, containers, languages
and scoped contexts do not change how NGSI-LD names are expanded or compacted
(values are kept verbatim), so they are accepted and ignored.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import orjson

from cityfabric.ngsild.errors import BadRequestData
from cityfabric.ngsild.model import CORE_CONTEXT_URL

if TYPE_CHECKING:
    from cityfabric.ngsild.contexts_store import ContextRegistry as ContextRegistry

CORE_URL_PREFIX: Final = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context"
JSONLD_CONTEXT_REL: Final = "http://www.w3.org/ns/json-ld#context"
HOSTED_PATH: Final = "/ngsi-ld/v1/jsonldContexts/"
CACHE_LIMIT: Final = 50_000  # per-context memo of expand/compact results

KEYWORDS: Final = frozenset(
    [
        "@base",
        "@container",
        "@context",
        "@direction",
        "@graph",
        "@id",
        "@import",
        "@included",
        "@index",
        "@json",
        "@language",
        "@list",
        "@nest",
        "@none",
        "@prefix",
        "@propagate",
        "@protected",
        "@reverse",
        "@set",
        "@type",
        "@value",
        "@version",
        "@vocab",
    ]
)
GEN_DELIMS: Final = frozenset(":/?#[]@")
_ABSOLUTE_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_LINK_PARAM = re.compile(r';\s*([A-Za-z*-]+)\s*=\s*("[^"]*"|[^;,\s]*)')

LocalContext = Mapping[str, Any]


def is_absolute_iri(value: str) -> bool:
    """True for an absolute IRI or a blank node identifier."""
    return value.startswith("_:") or _ABSOLUTE_IRI.match(value) is not None


def is_core_url(url: str) -> bool:
    """True for every published URL of the NGSI-LD core context (any version)."""
    return url.startswith(CORE_URL_PREFIX) and url.endswith(".jsonld")


@functools.cache
def core_document() -> dict[str, Any]:
    """The shipped NGSI-LD core context document ({"@context": {...}})."""
    data = importlib.resources.files("cityfabric.data") / "ngsi-ld-core-context-v1.9.jsonld"
    doc: dict[str, Any] = orjson.loads(data.read_bytes())
    return doc


@dataclass(frozen=True, slots=True)
class TermDef:
    """The part of a JSON-LD term definition NGSI-LD uses."""

    iri: str
    prefix: bool


class _TermBuilder:
    """Creates the term definitions of one local context (JSON-LD 1.1, 4.2.2, reduced)."""

    def __init__(self, terms: dict[str, TermDef], vocab: str | None, local: LocalContext) -> None:
        self.terms = terms
        self.vocab = vocab
        self.local = local
        self.defined: dict[str, bool] = {}

    def define_all(self) -> None:
        for term in self.local:
            if not term.startswith("@"):
                self.define(term)

    def define(self, term: str) -> None:
        state = self.defined.get(term)
        if state is True:
            return
        if state is False:
            raise BadRequestData(f"invalid @context: cyclic IRI mapping for term {term!r}")
        self.defined[term] = False
        value = self.local[term]
        simple = isinstance(value, str)
        if simple:
            value = {"@id": value}
        elif value is None or (isinstance(value, dict) and value.get("@id", "") is None):
            self.terms.pop(term, None)  # an explicit null un-defines the term
            self.defined[term] = True
            return
        elif not isinstance(value, dict):
            raise BadRequestData(
                f"invalid @context: the definition of term {term!r} must be a string or an object"
            )
        self.terms[term] = self._definition(term, value, simple=simple)
        self.defined[term] = True

    def _definition(self, term: str, value: Mapping[str, Any], *, simple: bool) -> TermDef:
        if "@id" in value and value["@id"] != term:  # "t": "t" means: no @id given
            raw = value["@id"]
        elif "@reverse" in value:
            raw = value["@reverse"]
        elif ":" in term[1:] or self.vocab is None:
            raw = term
        else:
            return TermDef(self.vocab + term, prefix=False)
        if not isinstance(raw, str):
            raise BadRequestData(f"invalid @context: @id of term {term!r} must be a string")
        if raw in KEYWORDS:
            return TermDef(raw, prefix=False)
        iri = self.expand(raw)
        if not is_absolute_iri(iri):
            raise BadRequestData(
                f"invalid @context: term {term!r} does not map to an IRI (got {raw!r})"
            )
        explicit = value.get("@prefix")
        if isinstance(explicit, bool):
            prefix = explicit
        else:
            plain = ":" not in term and "/" not in term
            prefix = simple and plain and (iri[-1] in GEN_DELIMS or iri.startswith("_:"))
        return TermDef(iri, prefix)

    def expand(self, value: str) -> str:
        """IRI expansion with vocab=true, defining local terms on demand."""
        if value in KEYWORDS:
            return value
        if value in self.local and not value.startswith("@"):
            self.define(value)
        found = self.terms.get(value)
        if found is not None:
            return found.iri
        if ":" in value[1:]:
            prefix, suffix = value.split(":", 1)
            if prefix == "_" or suffix.startswith("//"):
                return value
            if prefix in self.local:
                self.define(prefix)
            pdef = self.terms.get(prefix)
            if pdef is not None and pdef.prefix:
                return pdef.iri + suffix
            if _ABSOLUTE_IRI.match(value):
                return value
        return self.vocab + value if self.vocab is not None else value


def process_contexts(
    contexts: Iterable[LocalContext | None],
) -> tuple[dict[str, TermDef], str | None]:
    """Term definitions and @vocab after processing local contexts in order (None resets)."""
    terms: dict[str, TermDef] = {}
    vocab: str | None = None
    for local in contexts:
        if local is None:
            terms, vocab = {}, None
            continue
        if not isinstance(local, Mapping):
            raise BadRequestData("invalid @context: a local context must be a JSON object")
        builder = _TermBuilder(terms, vocab, local)
        if "@vocab" in local:
            vocab = _vocab_mapping(builder, local["@vocab"])
            builder.vocab = vocab
        builder.define_all()
    return terms, vocab


def _vocab_mapping(builder: _TermBuilder, raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise BadRequestData("invalid @context: @vocab must be a string or null")
    iri = builder.expand(raw) if raw else ""
    if not is_absolute_iri(iri):
        raise BadRequestData(f"invalid @context: @vocab {raw!r} is not an absolute IRI")
    return iri


class ActiveContext:
    """The processed @context of a request: O(1) memoised term expansion and compaction."""

    __slots__ = (
        "_compacted",
        "_expanded",
        "_inverse",
        "_prefixes",
        "link_path",
        "source",
        "terms",
        "vocab",
    )

    def __init__(
        self,
        terms: Mapping[str, TermDef],
        vocab: str | None,
        *,
        source: object,
        link_path: str | None,
    ) -> None:
        self.terms: Mapping[str, TermDef] = dict(terms)
        self.vocab = vocab
        self.source = source
        self.link_path = link_path
        self._expanded: dict[str, str] = {}
        self._compacted: dict[str, str] = {}
        self._inverse = _inverse(self.terms)
        # shortest, then lexicographically least prefix first: the first match wins
        self._prefixes = sorted(
            ((t, d.iri) for t, d in self.terms.items() if d.prefix and d.iri not in KEYWORDS),
            key=lambda item: (len(item[0]), item[0]),
        )

    @classmethod
    def from_locals(
        cls,
        contexts: Iterable[LocalContext | None],
        *,
        source: object,
        link_path: str | None,
    ) -> ActiveContext:
        """Process client local contexts, then the core context on top of them."""
        core = core_document()["@context"]
        terms, vocab = process_contexts([*contexts, core])
        return cls(terms, vocab, source=source, link_path=link_path)

    def expand(self, term: str) -> str:
        """The full IRI of an attribute name, entity type or vocab value."""
        found = self._expanded.get(term)
        if found is None:
            found = self._expand(term)
            if len(self._expanded) >= CACHE_LIMIT:
                self._expanded.clear()
            self._expanded[term] = found
        return found

    def compact(self, iri: str) -> str:
        """The short name of an IRI: term, else @vocab-relative, else compact IRI, else the IRI."""
        found = self._compacted.get(iri)
        if found is None:
            found = self._compact(iri)
            if len(self._compacted) >= CACHE_LIMIT:
                self._compacted.clear()
            self._compacted[iri] = found
        return found

    def _expand(self, value: str) -> str:
        found = self.terms.get(value)
        if found is not None:
            return found.iri
        if ":" in value[1:]:
            prefix, suffix = value.split(":", 1)
            if prefix == "_" or suffix.startswith("//"):
                return value
            pdef = self.terms.get(prefix)
            if pdef is not None and pdef.prefix:
                return pdef.iri + suffix
            if _ABSOLUTE_IRI.match(value):
                return value
        return self.vocab + value if self.vocab is not None else value

    def _compact(self, iri: str) -> str:
        term = self._inverse.get(iri)
        if term is not None:
            return term
        vocab = self.vocab
        if vocab and iri.startswith(vocab) and len(iri) > len(vocab):
            suffix = iri[len(vocab) :]
            if suffix not in self.terms:
                return suffix
        for prefix, prefix_iri in self._prefixes:
            if iri.startswith(prefix_iri) and iri != prefix_iri:
                candidate = f"{prefix}:{iri[len(prefix_iri) :]}"
                if candidate not in self.terms:
                    return candidate
        return iri


def _inverse(terms: Mapping[str, TermDef]) -> dict[str, str]:
    """IRI -> the term JSON-LD term selection picks for a plain value (shortest, then least)."""
    inverse: dict[str, str] = {}
    for term in sorted(terms, key=lambda t: (len(t), t)):
        inverse.setdefault(terms[term].iri, term)
    return inverse


def parse_link_header(value: str) -> str | None:
    """The URL of the JSON-LD context link in an HTTP Link header, if any."""
    found: list[str] = []
    for link in _split_links(value):
        match = re.match(r"\s*<([^>]*)>(.*)$", link, re.S)
        if match is None:
            raise BadRequestData(f"malformed Link header: {link.strip()!r}")
        params = {k.lower(): v.strip('"') for k, v in _LINK_PARAM.findall(match.group(2))}
        if JSONLD_CONTEXT_REL in params.get("rel", "").split():
            found.append(match.group(1).strip())
    if len(found) > 1:
        raise BadRequestData("the Link header may hold only one JSON-LD context link")
    return found[0] if found else None


def _split_links(value: str) -> list[str]:
    """Split a Link header on commas that are outside <...> and quoted strings."""
    parts: list[str] = []
    current: list[str] = []
    in_url = in_quote = False
    for char in value:
        if char == "<" and not in_quote:
            in_url = True
        elif char == ">" and not in_quote:
            in_url = False
        elif char == '"' and not in_url:
            in_quote = not in_quote
        elif char == "," and not in_url and not in_quote:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


@functools.cache
def core_context() -> ActiveContext:
    """The active context of a request that sends no @context."""
    return ActiveContext.from_locals([], source=CORE_CONTEXT_URL, link_path=CORE_CONTEXT_URL)


def __getattr__(name: str) -> object:
    # `ContextRegistry` lives in contexts_store (which imports this module); re-exported lazily
    if name == "ContextRegistry":
        from cityfabric.ngsild.contexts_store import ContextRegistry

        return ContextRegistry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
