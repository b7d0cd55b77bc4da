"""@context processing cross-checked against pyld, and the context registry."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyld import jsonld

from cityfabric.ngsild.context import (
    ActiveContext,
    core_context,
    core_document,
    is_core_url,
    parse_link_header,
)
from cityfabric.ngsild.contexts_store import ContextRegistry
from cityfabric.ngsild.errors import BadRequestData, LdContextNotAvailable, ResourceNotFound
from cityfabric.ngsild.model import CORE_CONTEXT_URL, DEFAULT_VOCAB, NGSI_LD

SDM_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "smart-data-models" / "contexts"
SDM_INDEX: dict[str, str] = orjson.loads((SDM_DIR / "index.json").read_bytes())
SDM_FILES = sorted({name for name in SDM_INDEX.values()})
STREETLIGHT_URL = "https://smart-data-models.github.io/dataModel.Streetlighting/context.jsonld"
SDM = "https://smartdatamodels.org/"


# ---- pyld, offline -------------------------------------------------------------------


def offline_loader(url: str, options: object = None) -> dict[str, Any]:
    """pyld document loader serving the core context and the SDM files, never the network."""
    if is_core_url(url):
        document: Any = core_document()
    elif url in SDM_INDEX:
        document = orjson.loads((SDM_DIR / SDM_INDEX[url]).read_bytes())
    else:
        # only reached for the scoped context of the core term "ngsildproof",
        # which NGSI-LD names never depend on
        document = {"@context": {}}
    return {"contextUrl": None, "documentUrl": url, "document": document}


OPTIONS = {"documentLoader": offline_loader}


def plain(context: Any) -> Any:
    """The context without type coercion, containers, languages or scoped contexts.

    NGSI-LD compacts an attribute name whatever its value looks like (values are
    kept verbatim), whereas JSON-LD term selection also matches the value's type
    and container. Comparing against pyld on this plain form keeps the choice
    down to what NGSI-LD means: the shortest, then least, term for the IRI.
    """
    if isinstance(context, list):
        return [plain(item) for item in context]
    if not isinstance(context, dict):
        return context
    out: dict[str, Any] = {}
    for term, value in context.items():
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if k in ("@id", "@reverse", "@prefix")}
        out[term] = value
    return out


def _numbers(value: Any) -> Iterator[int]:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)


def pyld_expand_keys(context: Any, terms: list[str]) -> dict[str, str]:
    """term -> the IRI pyld expands it to as a property key (one pyld call for all)."""
    doc: dict[str, Any] = {"@context": [context, CORE_CONTEXT_URL]}
    doc.update({term: i for i, term in enumerate(terms)})
    expanded = jsonld.expand(doc, OPTIONS)
    found: dict[str, str] = {}
    for key, values in (expanded[0] if expanded else {}).items():
        for number in _numbers(values):
            found[terms[number]] = key
    return found


def pyld_compact_keys(context: Any, iris: list[str]) -> dict[str, str]:
    """IRI -> the key pyld compacts it to, for a plain value, with the plain contexts."""
    doc = {iri: [{"@value": i}] for i, iri in enumerate(iris)}
    ctx = {"@context": [plain(context), plain(core_document()["@context"])]}
    compacted = jsonld.compact(doc, ctx, OPTIONS)
    return {
        iris[number]: key
        for key, value in compacted.items()
        if key != "@context"
        for number in _numbers(value)
    }


def _is_keyword_alias(context: dict[str, Any], term: str) -> bool:
    value = context.get(term)
    raw = value.get("@id") if isinstance(value, dict) else value
    return term in ("id", "type") or (isinstance(raw, str) and raw.startswith("@"))


def cross_check(context: Any, terms: list[str], extra_iris: Sequence[str] = ()) -> None:
    # keyword aliases ("id": "@id") are not properties; test_core_only covers them
    terms = [t for t in terms if not t.startswith("@") and not _is_keyword_alias(context, t)]
    try:
        expected = pyld_expand_keys(context, terms)
    except jsonld.JsonLdError:
        with pytest.raises(BadRequestData):
            ActiveContext.from_locals([context], source=context, link_path=None)
        return
    active = ActiveContext.from_locals([context], source=context, link_path=None)
    mine = {term: active.expand(term) for term in terms}
    assert mine == expected
    iris = sorted(set(mine.values()) | set(extra_iris))
    assert {iri: active.compact(iri) for iri in iris} == pyld_compact_keys(context, iris)


# ---- ActiveContext against pyld ------------------------------------------------------


@pytest.mark.parametrize("name", SDM_FILES)
def test_sdm_contexts_match_pyld(name: str) -> None:
    context = orjson.loads((SDM_DIR / name).read_bytes())["@context"]
    cross_check(context, list(context), [DEFAULT_VOCAB + "notDefined", NGSI_LD + "somethingElse"])


NAME = st.text("abcdefgkmnpqrstuvwxyzAZ_", min_size=1, max_size=6)
PREFIX_IRI = st.sampled_from(
    ["http://a.example/ns/", "http://b.example/v#", "urn:x:", "http://c.example/noslash"]
)


@st.composite
def term_sets(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """A random local context: prefixes, terms mapped to IRIs / compact IRIs, maybe @vocab."""
    names = draw(st.lists(NAME, min_size=2, max_size=14, unique=True))
    split = draw(st.integers(1, max(1, len(names) // 2)))
    prefixes, terms = names[:split], names[split:]
    context: dict[str, Any] = {p: draw(PREFIX_IRI) for p in prefixes}
    if draw(st.booleans()):
        context["@vocab"] = draw(st.sampled_from(["http://voc.example/", "http://a.example/ns/"]))
    extra = [iri + "zz" for iri in context.values()]
    for term in terms:
        suffix = draw(st.sampled_from(["x", "y", term, "ns/x"]))
        form = draw(st.integers(0, 3 if "@vocab" in context else 2))
        if form == 0:
            value: Any = draw(PREFIX_IRI) + suffix
        elif form == 1:
            value = f"{draw(st.sampled_from(prefixes))}:{suffix}"
        elif form == 2:
            value = {"@id": f"{draw(st.sampled_from(prefixes))}:{suffix}"}
        else:
            value = suffix  # vocab-relative
        context[term] = value
    return context, extra


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(term_sets())
def test_random_term_sets_match_pyld(sample: tuple[dict[str, Any], list[str]]) -> None:
    context, extra = sample
    cross_check(context, list(context), [*extra, DEFAULT_VOCAB + "free", "http://d.example/q"])


def test_core_only() -> None:
    active = core_context()
    assert active.expand("location") == NGSI_LD + "location"
    assert active.expand("temperature") == DEFAULT_VOCAB + "temperature"
    assert active.compact(DEFAULT_VOCAB + "temperature") == "temperature"
    assert active.compact(NGSI_LD + "location") == "location"
    assert active.expand("id") == "@id" and active.compact("@type") == "type"
    assert active.expand("urn:ngsi-ld:X") == "urn:ngsi-ld:X"
    assert active.source == CORE_CONTEXT_URL and active.link_path == CORE_CONTEXT_URL


def test_core_wins_over_client_terms() -> None:
    # the core context is applied last, as NGSI-LD requires; pyld agrees (see cross_check)
    context = {"location": "http://x.example/loc", "@vocab": "http://x.example/"}
    cross_check(context, ["location", "other"])
    active = ActiveContext.from_locals([context], source=context, link_path=None)
    assert active.expand("location") == NGSI_LD + "location"


def test_expand_and_compact_are_memoised() -> None:
    active = ActiveContext.from_locals([{"t": "http://e.example/t"}], source=None, link_path=None)
    assert active.expand("t") is active.expand("t")
    assert active.compact("http://e.example/t") == "t"


@pytest.mark.parametrize("bad", [{"t": 5}, {"t": {"@id": 5}}, {"@vocab": 5}, {"@vocab": "rel"}])
def test_bad_term_definitions(bad: dict[str, Any]) -> None:
    with pytest.raises(BadRequestData):
        ActiveContext.from_locals([bad], source=bad, link_path=None)


def test_cyclic_and_relative_mappings_are_rejected() -> None:
    with pytest.raises(BadRequestData):
        ActiveContext.from_locals(
            [{"a": {"@id": "b"}, "b": {"@id": "a"}}], source=0, link_path=None
        )
    with pytest.raises(BadRequestData):
        ActiveContext.from_locals([{"a": "relative"}], source=0, link_path=None)


def test_scoped_contexts_and_keywords_are_tolerated() -> None:
    context = {
        "@version": 1.1,
        "@protected": True,
        "@propagate": False,
        "s": {"@id": "http://e.example/s", "@context": {"inner": "http://e.example/i"}},
        "r": {"@reverse": "http://e.example/r"},
    }
    active = ActiveContext.from_locals([context], source=context, link_path=None)
    assert active.expand("s") == "http://e.example/s"


# ---- Link header ---------------------------------------------------------------------


def test_parse_link_header() -> None:
    rel = 'rel="http://www.w3.org/ns/json-ld#context"'
    assert parse_link_header(f'<http://x.example/c.jsonld>; {rel}; type="application/ld+json"') == (
        "http://x.example/c.jsonld"
    )
    assert parse_link_header('<http://x.example/a>; rel="next"') is None
    two = f'<http://x.example/a,b>; rel="alternate", <http://x.example/c>; {rel}'
    assert parse_link_header(two) == "http://x.example/c"
    with pytest.raises(BadRequestData):
        parse_link_header(f"<http://x.example/a>; {rel}, <http://x.example/b>; {rel}")
    with pytest.raises(BadRequestData):
        parse_link_header("http://x.example/a; rel=x")


# ---- the registry --------------------------------------------------------------------


class _Server:
    """A loopback HTTP server with scripted context documents."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.release = threading.Event()
        server = self
        base_ctx = {"@context": {"speed": "http://loop.example/speed"}}

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                url = f"http://127.0.0.1:{server.port}"
                bodies: dict[str, bytes] = {
                    "/ctx.jsonld": orjson.dumps(base_ctx),
                    "/nested.jsonld": orjson.dumps(
                        {"@context": [f"{url}/ctx.jsonld", {"lane": "http://loop.example/lane"}]}
                    ),
                    "/loop.jsonld": orjson.dumps({"@context": f"{url}/loop.jsonld"}),
                    "/import.jsonld": orjson.dumps(
                        {"@context": {"@import": f"{url}/ctx.jsonld", "lane": "http://l.example/"}}
                    ),
                    "/big.jsonld": b'{"@context": {"x": "' + b"y" * 5000 + b'"}}',
                    "/notjson": b"<html>not json</html>",
                    "/nocontext": b'{"hello": 1}',
                }
                if self.path == "/slow":
                    server.release.wait(5)
                body = bodies.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/ld+json")
                self.end_headers()
                self.wfile.write(body or b"{}")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    yield srv
    srv.close()


@pytest.fixture
def registry(tmp_path: Path) -> ContextRegistry:
    return ContextRegistry(SDM_DIR, tmp_path / "hosted", fetch_timeout=2.0, max_bytes=2000)


@pytest.mark.parametrize(
    "url",
    [
        CORE_CONTEXT_URL,
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld",
    ],
)
async def test_core_urls_resolve_offline(registry: ContextRegistry, url: str) -> None:
    active = await registry.resolve(url)
    assert active.expand("observedAt") == NGSI_LD + "observedAt"
    assert active.source == url and active.link_path == url
    assert (await registry.resolve(None)).expand("x") == DEFAULT_VOCAB + "x"


async def test_cache_folder_and_context_cache(registry: ContextRegistry) -> None:
    active = await registry.resolve(STREETLIGHT_URL)
    assert active.expand("Streetlight") == SDM + "dataModel.Streetlighting/Streetlight"
    assert await registry.resolve(STREETLIGHT_URL) is active
    assert await registry.resolve({"@context": [STREETLIGHT_URL]}) is not None
    rows = registry.list("Cached", details=True)
    entry = next(r for r in rows if isinstance(r, dict) and r["URL"] == STREETLIGHT_URL)
    assert entry["numberOfHits"] == 3 and "lastUsage" in entry


async def test_remote_context_fetched_once(registry: ContextRegistry, server: _Server) -> None:
    url = server.url("/nested.jsonld")
    first = await registry.resolve(url)
    assert first.expand("speed") == "http://loop.example/speed"
    assert first.expand("lane") == "http://loop.example/lane"
    again = await registry.resolve([url, {"extra": "http://loop.example/extra"}])
    assert again.expand("speed") == "http://loop.example/speed"
    assert server.hits == {"/nested.jsonld": 1, "/ctx.jsonld": 1}
    assert url in registry.list("Cached")


async def test_import(registry: ContextRegistry, server: _Server) -> None:
    active = await registry.resolve(server.url("/import.jsonld"))
    assert active.expand("speed") == "http://loop.example/speed"
    assert active.expand("lane") == "http://l.example/"


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/big.jsonld", "larger than"),
        ("/notjson", "not JSON"),
        ("/nocontext", "@context member"),
        ("/slow", "within"),
        ("/missing", "HTTP 404"),
    ],
)
async def test_unavailable_contexts(
    registry: ContextRegistry, server: _Server, path: str, why: str
) -> None:
    with pytest.raises(LdContextNotAvailable) as info:
        await registry.resolve(server.url(path))
    assert server.url(path) in info.value.detail and why in info.value.detail


async def test_unreachable_urls(registry: ContextRegistry, server: _Server) -> None:
    server.close()
    with pytest.raises(LdContextNotAvailable):
        await registry.resolve(server.url("/ctx.jsonld"))
    with pytest.raises(LdContextNotAvailable):
        await registry.resolve("ftp://127.0.0.1/x.jsonld")


async def test_self_referencing_context(registry: ContextRegistry, server: _Server) -> None:
    with pytest.raises(BadRequestData):
        await registry.resolve(server.url("/loop.jsonld"))


@pytest.mark.parametrize("bad", [5, [5], {"t": 5}, {"@context": {"t": [1]}}])
async def test_malformed_request_contexts(registry: ContextRegistry, bad: object) -> None:
    with pytest.raises(BadRequestData):
        await registry.resolve(bad)


async def test_inline_context_becomes_implicitly_created(tmp_path: Path) -> None:
    inline = {"speed": "http://inline.example/speed"}
    first = ContextRegistry(None, tmp_path)
    active = await first.resolve({"@context": inline})
    assert active.source == inline
    assert active.link_path is not None and active.link_path.startswith(
        "/ngsi-ld/v1/jsonldContexts/"
    )
    assert await first.resolve(copy.deepcopy(inline)) is active
    local_id = active.link_path.rsplit("/", 1)[1]
    assert first.get(local_id) == {"@context": inline}
    second = ContextRegistry(None, tmp_path)
    assert second.list("ImplicitlyCreated") == [f"/ngsi-ld/v1/jsonldContexts/{local_id}"]
    again = await second.resolve("http://broker.example" + active.link_path)
    assert again.expand("speed") == "http://inline.example/speed"


async def test_hosted_contexts_survive_a_new_registry(tmp_path: Path) -> None:
    doc = {"@context": {"height": "http://hosted.example/height"}}
    local_id = ContextRegistry(None, tmp_path).add_hosted(doc)
    assert not list(tmp_path.glob(".tmp-*"))
    reborn = ContextRegistry(None, tmp_path)
    assert reborn.get(local_id) == doc
    details = reborn.get(local_id, details=True, base_url="http://b.example")
    assert details["kind"] == "Hosted"
    assert details["URL"] == f"http://b.example/ngsi-ld/v1/jsonldContexts/{local_id}"
    active = await reborn.resolve(f"http://b.example/ngsi-ld/v1/jsonldContexts/{local_id}")
    assert active.expand("height") == "http://hosted.example/height"
    await reborn.delete(local_id)
    assert ContextRegistry(None, tmp_path).list("Hosted") == []


def test_unreadable_and_unfinished_files_are_skipped(tmp_path: Path) -> None:
    local_id = ContextRegistry(None, tmp_path).add_hosted({"@context": {"a": "http://a.example/"}})
    (tmp_path / "broken.json").write_bytes(b'{"localId": "x", "kin')
    (tmp_path / "partial.json").write_bytes(b'{"localId": "y"}')
    (tmp_path / ".tmp-crash.json").write_bytes(
        orjson.dumps({"localId": "z", "kind": "Hosted", "createdAt": 0, "@context": {}})
    )
    rows = ContextRegistry(None, tmp_path).list("Hosted", details=True)
    assert [row["localId"] for row in rows if isinstance(row, dict)] == [local_id]


async def test_management_rules(registry: ContextRegistry, server: _Server) -> None:
    assert CORE_CONTEXT_URL in registry.list()
    with pytest.raises(BadRequestData):
        await registry.delete("ngsi-ld-core-context")
    with pytest.raises(BadRequestData):
        registry.add_hosted({"no": "context"})
    with pytest.raises(BadRequestData):
        registry.add_hosted({"@context": {"t": 1}})
    with pytest.raises(BadRequestData):
        registry.list("Bogus")
    with pytest.raises(ResourceNotFound):
        registry.get("nope")
    hosted = registry.add_hosted({"@context": {"a": "http://a.example/a"}})
    with pytest.raises(BadRequestData):
        await registry.delete(hosted, reload=True)
    url = server.url("/ctx.jsonld")
    await registry.resolve(url)
    cached = next(
        r["localId"]
        for r in registry.list("Cached", details=True)
        if isinstance(r, dict) and r["URL"] == url
    )
    await registry.delete(str(cached), reload=True)
    assert server.hits["/ctx.jsonld"] == 2
    await registry.delete(str(cached))
    await registry.resolve(url)
    assert server.hits["/ctx.jsonld"] == 3
