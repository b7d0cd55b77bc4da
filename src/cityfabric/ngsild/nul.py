"""Refuse U+0000 (NUL) in what callers send, before any store sees it.

PostgreSQL cannot hold NUL in `text` or `jsonb`, and C-string based tools cut
strings at it, so CityFabric accepts it on no engine: a request body, an MQTT
payload, an import line or a URL that carries NUL is refused as BadRequestData,
the same on SQLite and PostgreSQL.

In JSON a NUL can only arrive as the escape `\\u0000` (JSON forbids raw control
characters), so the parsed value is walked only when the raw bytes contain it.
"""

from __future__ import annotations

from typing import Any

from cityfabric.ngsild.errors import BadRequestData

NUL = "\x00"
_ESCAPE = b"\\u0000"
_SHOWN = "\\u0000"  # how a NUL inside a key is shown in the error's path
NUL_REASON = "U+0000 (NUL), which CityFabric cannot store or match: remove it"


def nul_path(value: Any, where: str = "") -> str | None:
    """The JSON path (`a.b[2]`) of the first string or key holding NUL, or None."""
    if isinstance(value, str):
        return where if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{where}.{key}" if where else str(key)
            if NUL in key:
                return here
            found = nul_path(item, here)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_path(item, f"{where}[{index}]")
            if found is not None:
                return found
    return None


def json_nul_problem(raw: bytes, value: Any, what: str = "the body") -> BadRequestData | None:
    """The error for parsed JSON `value` (from `raw`) holding NUL, or None when it has none."""
    if _ESCAPE not in raw:
        return None
    path = nul_path(value)
    if path is None:
        return None
    at = f" (at {path.replace(NUL, _SHOWN)})" if path else ""
    return BadRequestData(f"{what} contains the character {NUL_REASON}{at}")


def refuse_json_nul(raw: bytes, value: Any, what: str = "the body") -> None:
    """Raise BadRequestData when parsed JSON `value` (from `raw`) holds NUL anywhere."""
    err = json_nul_problem(raw, value, what)
    if err is not None:
        raise err


def text_nul_problem(text: str, what: str) -> BadRequestData | None:
    """The error for plain text holding NUL, or None."""
    if NUL not in text:
        return None
    return BadRequestData(f"{what} contains the character {NUL_REASON}")
