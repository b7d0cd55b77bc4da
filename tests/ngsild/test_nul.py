"""Finding U+0000 in parsed JSON and in text (ngsild/nul.py)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from cityfabric.ngsild.errors import BadRequestData
from cityfabric.ngsild.nul import json_nul_problem, nul_path, refuse_json_nul, text_nul_problem


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("a\x00", ""),
        ({"a": {"b": [1, "x", "\x00"]}}, "a.b[2]"),
        ([{"k\x00": 1}], "[0].k\x00"),
        ({"a": 1, "b": [True, None, 2.5, "ok"]}, None),
    ],
)
def test_nul_path(value: Any, path: str | None) -> None:
    assert nul_path(value) == path


def test_only_a_real_nul_is_refused() -> None:
    raw = orjson.dumps({"p": {"value": "x\x00"}})
    with pytest.raises(BadRequestData, match=r"U\+0000 \(NUL\).*\(at p\.value\)"):
        refuse_json_nul(raw, orjson.loads(raw))
    text = orjson.dumps({"p": "C:\\u0000"})  # the six characters \u0000, escaped backslash
    assert b"\\u0000" in text and json_nul_problem(text, orjson.loads(text)) is None
    err = json_nul_problem(orjson.dumps({"k\x00": 1}), {"k\x00": 1})
    assert err is not None and "(at k\\u0000)" in err.detail


def test_text() -> None:
    assert text_nul_problem("plain", "the row") is None
    err = text_nul_problem("a\x00b", "the row")
    assert err is not None and err.status == 400 and err.detail.startswith("the row contains")
