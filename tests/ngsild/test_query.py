"""Tests for the NGSI-LD q, type and scope parsers in `cityfabric.ngsild.query`."""

from __future__ import annotations

import contextlib
import time as clock
from datetime import UTC

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityfabric.ngsild.errors import BadRequestData, NgsiLdError, TooComplexQuery
from cityfabric.ngsild.model import METADATA
from cityfabric.ngsild.query import (
    MAX_DEPTH,
    MAX_Q_LENGTH,
    MAX_REGEX_LENGTH,
    MAX_TERMS,
    And,
    AttrPath,
    Comparison,
    DateTimeLit,
    Exists,
    Literal,
    Operator,
    Or,
    QExpr,
    Range,
    ScopeAnd,
    ScopeExpr,
    ScopeOr,
    ScopeTerm,
    TypeAnd,
    TypeExpr,
    TypeName,
    TypeOr,
    UriLit,
    ValueList,
    attribute_names,
    expand_q,
    expand_types,
    parse_q,
    parse_scope_q,
    parse_types,
    print_q,
    print_scope_q,
    print_types,
    validate_scope,
)


def P(attr: str, *sub: str, members: tuple[str, ...] = ()) -> AttrPath:
    return AttrPath(attr, tuple(sub), members)


def C(attr: str, op: Operator, value: Literal | Range | ValueList) -> Comparison:
    return Comparison(P(attr), op, value)


def E(attr: str) -> Exists:
    return Exists(P(attr))


# --- q: table of constructs -------------------------------------------------

Q_EXAMPLES: list[tuple[str, QExpr]] = [
    ('powerState=="on"', C("powerState", "==", "on")),
    ("a!=1", C("a", "!=", 1)),
    ("a>1", C("a", ">", 1)),
    ("a>=1.5", C("a", ">=", 1.5)),
    ("a<-2", C("a", "<", -2)),
    ("a<=-1.5e3", C("a", "<=", -1500.0)),
    ("a==1E2", C("a", "==", 100.0)),
    ("a==true", C("a", "==", True)),
    ("a==false", C("a", "==", False)),
    (r'a=="say \"hi\" \\ \d"', C("a", "==", 'say "hi" \\ \\d')),
    ("a==2018-12-04T12:00:00Z", C("a", "==", DateTimeLit("2018-12-04T12:00:00Z", "dateTime"))),
    (
        "a>2018-12-04T12:00:00.5+02:00",
        C("a", ">", DateTimeLit("2018-12-04T12:00:00.5+02:00", "dateTime")),
    ),
    ("a<2018-12-04", C("a", "<", DateTimeLit("2018-12-04", "date"))),
    ("a>=12:00:00Z", C("a", ">=", DateTimeLit("12:00:00Z", "time"))),
    ("rel==urn:ngsi-ld:Building:1", C("rel", "==", UriLit("urn:ngsi-ld:Building:1"))),
    ("rel==https://ex.org/a?b=c", C("rel", "==", UriLit("https://ex.org/a?b=c"))),
    ("a==1..5", C("a", "==", Range(1, 5))),
    ("a!=1.5..2.5", C("a", "!=", Range(1.5, 2.5))),
    ('a=="a".."m"', C("a", "==", Range("a", "m"))),
    (
        "a==2018-01-01T00:00:00Z..2018-12-31T00:00:00Z",
        C(
            "a",
            "==",
            Range(
                DateTimeLit("2018-01-01T00:00:00Z", "dateTime"),
                DateTimeLit("2018-12-31T00:00:00Z", "dateTime"),
            ),
        ),
    ),
    ('a=="x","y",3,true', C("a", "==", ValueList(("x", "y", 3, True)))),
    ("r!=urn:a:1,urn:a:2", C("r", "!=", ValueList((UriLit("urn:a:1"), UriLit("urn:a:2"))))),
    ('a~="^on.*"', C("a", "~=", "^on.*")),
    ("a!~=^(on|off)$", C("a", "!~=", "^(on|off)$")),
    ("temperature", E("temperature")),
    ("a;b", And((E("a"), E("b")))),
    ("a|b", Or((E("a"), E("b")))),
    ("a;b|c", Or((And((E("a"), E("b"))), E("c")))),
    ("a|b;c", Or((E("a"), And((E("b"), E("c")))))),
    ("(a|b);c", And((Or((E("a"), E("b"))), E("c")))),
    ("((a))", E("a")),
    ("(a;b);c", And((And((E("a"), E("b"))), E("c")))),
    ("a.sub>1", Comparison(P("a", "sub"), ">", 1)),
    (
        "a.s1.s2.observedAt>2020-01-01",
        Comparison(P("a", "s1", "s2", "observedAt"), ">", DateTimeLit("2020-01-01", "date")),
    ),
    ("a.unitCode", Exists(P("a", "unitCode"))),
    ("a[m]==1", Comparison(P("a", members=("m",)), "==", 1)),
    ("a[m][n]==1", Comparison(P("a", members=("m", "n")), "==", 1)),
    ("a[m.n]==1", Comparison(P("a", members=("m", "n")), "==", 1)),
    ("a.s[m]", Exists(P("a", "s", members=("m",)))),
    ("ngsi-ld:foo==1", C("ngsi-ld:foo", "==", 1)),
    ("schema:name.observedAt", Exists(P("schema:name", "observedAt"))),
    ("https://example.org/ns#x==1", C("https://example.org/ns#x", "==", 1)),
    ("https://ex.org/ns#x.observedAt", Exists(P("https://ex.org/ns#x", "observedAt"))),
    (
        "https://smartdatamodels.org/dataModel.Energy/power>3",
        C("https://smartdatamodels.org/dataModel.Energy/power", ">", 3),
    ),
    ("température>1", C("température", ">", 1)),
]


@pytest.mark.parametrize(("text", "tree"), Q_EXAMPLES)
def test_parse_q_examples(text: str, tree: QExpr) -> None:
    parsed = parse_q(text)
    assert parsed == tree
    assert repr(parsed) == repr(tree)  # tells True from 1 and 1 from 1.0
    assert repr(parse_q(print_q(parsed))) == repr(tree)


@pytest.mark.parametrize(
    ("tree", "text"),
    [
        (Or((And((E("a"), E("b"))), E("c"))), "a;b|c"),
        (And((Or((E("a"), E("b"))), E("c"))), "(a|b);c"),
        (And((And((E("a"), E("b"))), E("c"))), "(a;b);c"),
        (C("a", "~=", 'x"y'), r'a~="x\"y"'),
        (Comparison(P("a", "b", members=("m", "n")), "==", 1.0), "a.b[m][n]==1.0"),
    ],
)
def test_print_q_is_canonical(tree: QExpr, text: str) -> None:
    assert print_q(tree) == text


# --- q: errors --------------------------------------------------------------

Q_ERRORS: list[tuple[str, int, str]] = [
    ("powerState==", 12, "expected a value after '=='"),
    ('a=="abc', 3, "unterminated string"),
    ("a=1", 1, "expected an operator"),
    ("(a;b", 4, "expected ')'"),
    ("a;b)", 3, "unmatched ')'"),
    ("a==on", 3, "strings must be quoted"),
    ("", 0, "expected an attribute name"),
    ("a;;b", 2, "expected an attribute name"),
    ("a|", 2, "expected an attribute name"),
    ("1a==1", 0, "expected an attribute name"),
    ("a.observedAt.b", 12, "must end the path"),
    ("a[]==1", 2, "expected a member name"),
    ("a[x==1", 3, "expected ']'"),
    ("a>true", 2, "needs a number, string or date/time"),
    ("a>1..2", 3, "expected ';', '|' or end of q"),
    ("a==true..3", 3, "range bound"),
    ("a==2018-13-01", 3, "invalid date"),
    ("a==2018-02-30T12:00:00Z", 3, "invalid dateTime"),
    ("a~=(", 3, "invalid regular expression"),
    ('a~="[z-a]"', 3, "invalid regular expression"),
    ("a~=", 3, "expected a regular expression"),
    ("a==1e999", 3, "out of range"),
    ("a==1 ", 4, "expected ';', '|' or end of q"),
    ("https://==1", 8, "expected an IRI"),
]


@pytest.mark.parametrize(("text", "pos", "what"), Q_ERRORS)
def test_parse_q_error_positions(text: str, pos: int, what: str) -> None:
    with pytest.raises(BadRequestData) as info:
        parse_q(text)
    assert info.value.detail.startswith("q: ")
    assert what in info.value.detail
    assert f"at position {pos}:" in info.value.detail


def test_error_detail_matches_house_format() -> None:
    with pytest.raises(BadRequestData) as info:
        parse_q("powerState==")
    assert info.value.detail == (
        "q: expected a value after '==' (strings must be quoted), found end of input"
        " at position 12: 'powerState=='"
    )


# --- limits -----------------------------------------------------------------


def test_length_limit() -> None:
    ok = 'a=="' + "1" * (MAX_Q_LENGTH - 5) + '"'  # a number that long is out of range
    assert isinstance(parse_q(ok), Comparison)
    with pytest.raises(TooComplexQuery):
        parse_q(ok + " ")


def test_depth_limit() -> None:
    assert parse_q("(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH) == E("a")
    with pytest.raises(TooComplexQuery):
        parse_q("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(TooComplexQuery):
        parse_q("(" * (MAX_Q_LENGTH - 1))


def test_term_limit() -> None:
    assert len(parse_q(";".join(["a"] * MAX_TERMS)).terms) == MAX_TERMS  # type: ignore[union-attr]
    with pytest.raises(TooComplexQuery):
        parse_q(";".join(["a"] * (MAX_TERMS + 1)))
    with pytest.raises(TooComplexQuery):
        parse_types(",".join(["T"] * (MAX_TERMS + 1)))
    with pytest.raises(TooComplexQuery):
        parse_scope_q(",".join(["/a"] * (MAX_TERMS + 1)))


def test_regex_limit() -> None:
    assert parse_q("a~=" + "x" * MAX_REGEX_LENGTH) == C("a", "~=", "x" * MAX_REGEX_LENGTH)
    with pytest.raises(BadRequestData, match="at position 3"):
        parse_q("a~=" + "x" * (MAX_REGEX_LENGTH + 1))


def test_parse_is_fast_on_largest_inputs() -> None:
    inputs = [
        ";".join(['a.b[c]=="xyz"'] * 200)[:MAX_Q_LENGTH].rstrip(";"),
        "a~=" + "(" * 2000,
        "a==" + "1," * 2000 + "1",
        '"' * MAX_Q_LENGTH,
    ]
    begin = clock.perf_counter()
    for text in inputs:
        with contextlib.suppress(NgsiLdError):
            parse_q(text)
    assert clock.perf_counter() - begin < 0.5


# --- types and scopes -------------------------------------------------------

TYPE_EXAMPLES: list[tuple[str, TypeExpr]] = [
    ("Building", TypeName("Building")),
    ("A,B", TypeOr((TypeName("A"), TypeName("B")))),
    ("A|B", TypeOr((TypeName("A"), TypeName("B")))),
    ("A;B", TypeAnd((TypeName("A"), TypeName("B")))),
    ("A;B,C", TypeOr((TypeAnd((TypeName("A"), TypeName("B"))), TypeName("C")))),
    ("(A,B);C", TypeAnd((TypeOr((TypeName("A"), TypeName("B"))), TypeName("C")))),
    (
        "ngsi-ld:A,https://ex.org/t.v1/B",
        TypeOr((TypeName("ngsi-ld:A"), TypeName("https://ex.org/t.v1/B"))),
    ),
]


@pytest.mark.parametrize(("text", "tree"), TYPE_EXAMPLES)
def test_parse_types_examples(text: str, tree: TypeExpr) -> None:
    assert parse_types(text) == tree
    assert parse_types(print_types(tree)) == tree


@pytest.mark.parametrize(
    ("text", "pos"), [("", 0), ("A,", 2), ("(A", 2), ("A B", 1), ("A;;B", 2), ("1A", 0)]
)
def test_parse_types_errors(text: str, pos: int) -> None:
    with pytest.raises(BadRequestData, match=f"^type: .* at position {pos}:"):
        parse_types(text)


SCOPE_EXAMPLES: list[tuple[str, ScopeExpr]] = [
    ("/Madrid", ScopeTerm("/Madrid")),
    ("/Madrid/Gardens/#", ScopeTerm("/Madrid/Gardens/#")),
    ("/#", ScopeTerm("/#")),
    ("/+/Parks", ScopeTerm("/+/Parks")),
    ("/a,/b", ScopeOr((ScopeTerm("/a"), ScopeTerm("/b")))),
    ("/a|/b", ScopeOr((ScopeTerm("/a"), ScopeTerm("/b")))),
    ("/a;/b", ScopeAnd((ScopeTerm("/a"), ScopeTerm("/b")))),
    ("(/a,/b);/c/#", ScopeAnd((ScopeOr((ScopeTerm("/a"), ScopeTerm("/b"))), ScopeTerm("/c/#")))),
]


@pytest.mark.parametrize(("text", "tree"), SCOPE_EXAMPLES)
def test_parse_scope_q_examples(text: str, tree: ScopeExpr) -> None:
    assert parse_scope_q(text) == tree
    assert parse_scope_q(print_scope_q(tree)) == tree


@pytest.mark.parametrize(
    ("text", "pos"),
    [("", 0), ("a", 0), ("/", 1), ("/a/", 3), ("/a/#/b", 4), ("/a-b", 2), ("/a,", 3)],
)
def test_parse_scope_q_errors(text: str, pos: int) -> None:
    with pytest.raises(BadRequestData, match=f"^scopeQ: .* at position {pos}:"):
        parse_scope_q(text)


@pytest.mark.parametrize("scope", ["/a", "/Madrid/Gardens/ParqueNorte", "/a_1/Ärea"])
def test_validate_scope_accepts(scope: str) -> None:
    assert validate_scope(scope) == scope


@pytest.mark.parametrize(
    ("scope", "pos"), [("a", 0), ("/", 1), ("/a/", 3), ("/a/#", 3), ("/+", 1), ("/a b", 2)]
)
def test_validate_scope_rejects(scope: str, pos: int) -> None:
    with pytest.raises(BadRequestData, match=f"at position {pos}:"):
        validate_scope(scope)


# --- expansion --------------------------------------------------------------


def _iri(name: str) -> str:
    return "https://ex.org/" + name


def test_expand_q_maps_attributes_and_sub_attributes_only() -> None:
    tree = parse_q("a.s.observedAt>1;(b[m.n]==2|c)")
    assert expand_q(tree, _iri) == And(
        (
            Comparison(AttrPath(_iri("a"), (_iri("s"), "observedAt")), ">", 1),
            Or(
                (
                    Comparison(AttrPath(_iri("b"), (), ("m", "n")), "==", 2),
                    Exists(AttrPath(_iri("c"))),
                )
            ),
        )
    )
    assert attribute_names(tree) == {"a", "b", "c"}


def test_expand_types() -> None:
    tree = parse_types("A;(B,C)")
    assert expand_types(tree, _iri) == TypeAnd(
        (TypeName(_iri("A")), TypeOr((TypeName(_iri("B")), TypeName(_iri("C")))))
    )


# --- property tests ---------------------------------------------------------

_LETTERS = "abcxyzABCXYZé"
_WORD = _LETTERS + "019_"


def _words(first: str, rest: str, max_rest: int = 6) -> st.SearchStrategy[str]:
    return st.builds(lambda f, r: f + r, st.sampled_from(first), st.text(rest, max_size=max_rest))


_terms = _words(_LETTERS, _WORD)
_plain = _terms.filter(lambda s: s not in METADATA)
_compact = st.builds(lambda p, n: f"{p}:{n}", _words("abz", "abz-"), _terms)
_full_iri = st.builds(
    lambda host, seg, sep, last: f"https://{host}/{seg}{sep}{last}",
    st.sampled_from(["example.org", "uri.etsi.org", "localhost:8080"]),
    st.text("ab.-", min_size=1, max_size=6),
    st.sampled_from(["/", "#"]),
    _terms,
)
_names = st.one_of(_plain, _compact, _full_iri).filter(lambda s: s not in METADATA)
_members = st.lists(st.text(_WORD + "-", min_size=1, max_size=5), max_size=3)


@st.composite
def _paths(draw: st.DrawFn) -> AttrPath:
    sub = draw(st.lists(_names, max_size=3))
    if draw(st.booleans()):
        return AttrPath(draw(_names), (*sub, draw(st.sampled_from(sorted(METADATA)))))
    return AttrPath(draw(_names), tuple(sub), tuple(draw(_members)))


_datetimes = st.one_of(
    st.datetimes(timezones=st.just(UTC)).map(
        lambda d: DateTimeLit(d.isoformat().replace("+00:00", "Z"), "dateTime")
    ),
    st.dates().map(lambda d: DateTimeLit(d.isoformat(), "date")),
    st.times().map(lambda t: DateTimeLit(t.isoformat() + "Z", "time")),
)
_comparable: st.SearchStrategy[Literal] = st.one_of(
    st.integers(-(2**63), 2**63 - 1),  # past 64 bits q reads a number as a float, by design
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
    _datetimes,
)
_uris = st.builds(
    lambda kind, n: UriLit(f"urn:ngsi-ld:{kind}:{n}"), _terms, st.text("09az:.", max_size=5)
)
_literals: st.SearchStrategy[Literal] = st.one_of(_comparable, st.booleans(), _uris)


_regexes = st.one_of(
    st.sampled_from([r"^on$", r"(a|b)+", r"\d{2}-x", r'say "hi"', r"a\\b", r"[;|()]"]),
    st.text(_WORD + ";|,.\"' ", min_size=1, max_size=12),
)
_comparisons = st.one_of(
    st.builds(
        Comparison,
        _paths(),
        st.sampled_from(["==", "!="]),
        st.one_of(
            _literals,
            st.builds(Range, _comparable, _comparable),
            st.lists(_literals, min_size=2, max_size=4).map(lambda xs: ValueList(tuple(xs))),
        ),
    ),
    st.builds(Comparison, _paths(), st.sampled_from([">", ">=", "<", "<="]), _comparable),
    st.builds(Comparison, _paths(), st.sampled_from(["~=", "!~="]), _regexes),
)
_q_trees: st.SearchStrategy[QExpr] = st.recursive(
    st.one_of(_comparisons, st.builds(Exists, _paths())),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=4).map(lambda ts: And(tuple(ts))),
        st.lists(inner, min_size=2, max_size=4).map(lambda ts: Or(tuple(ts))),
    ),
    max_leaves=8,
)
_type_trees: st.SearchStrategy[TypeExpr] = st.recursive(
    st.one_of(_plain, _compact, _full_iri).map(TypeName),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=4).map(lambda ts: TypeAnd(tuple(ts))),
        st.lists(inner, min_size=2, max_size=4).map(lambda ts: TypeOr(tuple(ts))),
    ),
    max_leaves=8,
)
_scope_paths = st.builds(
    lambda levels, tail: "/" + "/".join(levels) + tail,
    st.lists(
        st.one_of(st.just("+"), st.text(_WORD, min_size=1, max_size=4)), min_size=1, max_size=4
    ),
    st.sampled_from(["", "/#"]),
)
_scope_trees: st.SearchStrategy[ScopeExpr] = st.recursive(
    st.one_of(_scope_paths, st.just("/#")).map(ScopeTerm),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=4).map(lambda ts: ScopeAnd(tuple(ts))),
        st.lists(inner, min_size=2, max_size=4).map(lambda ts: ScopeOr(tuple(ts))),
    ),
    max_leaves=8,
)


@settings(max_examples=150)
@given(_q_trees)
def test_q_round_trip(tree: QExpr) -> None:
    assert repr(parse_q(print_q(tree))) == repr(tree)


@given(_type_trees)
def test_types_round_trip(tree: TypeExpr) -> None:
    assert parse_types(print_types(tree)) == tree


@given(_scope_trees)
def test_scope_round_trip(tree: ScopeExpr) -> None:
    assert parse_scope_q(print_scope_q(tree)) == tree


_q_alphabet = st.sampled_from([*'abAZ09_-.:/#[]()";|,=!<>~+*\\eETZ ', "é", "\x00", "\u2028"])


@settings(max_examples=500)
@given(st.one_of(st.text(), st.text(_q_alphabet, max_size=40)))
def test_random_text_raises_only_ngsild_errors(text: str) -> None:
    for parse in (parse_q, parse_types, parse_scope_q, validate_scope):
        with contextlib.suppress(NgsiLdError):
            parse(text)


@settings(max_examples=50)
@given(_q_trees)
def test_mutated_q_raises_only_ngsild_errors(tree: QExpr) -> None:
    text = print_q(tree)
    for cut in range(0, len(text), max(1, len(text) // 8)):
        with contextlib.suppress(NgsiLdError):
            parse_q(text[:cut] + text[cut + 1 :])


def test_a_number_past_64_bits_is_read_as_a_float() -> None:
    largest = parse_q("a==9223372036854775807")
    past = parse_q("a==9223372036854775808")
    assert isinstance(largest, Comparison) and largest.value == 2**63 - 1
    assert isinstance(past, Comparison) and past.value == float(2**63)
    assert isinstance(past.value, float)
