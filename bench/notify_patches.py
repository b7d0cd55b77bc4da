"""Experiments only: in-process patches of the server, to size a proposed fix before it is made.

`bench/notify.py --patch regex,sniffio` starts the server with PYTHONPATH holding a
generated `sitecustomize.py` that calls `apply(...)` before cityfabric is imported.
Nothing here is part of CityFabric; figures measured with patches are reported apart.

* regex: `cityfabric.ngsild.regex.compile_regex` with an unbounded cache instead of
  512 entries (1,000 distinct idPatterns thrash the LRU: every match recompiles);
* sniffio: a stand-in `sniffio` module, so httpcore's `current_async_library` does not
  retry a failing `import sniffio` (a sys.path scan) on every request.
"""

from __future__ import annotations

import functools
import sys
import types
from pathlib import Path

PATCHES = ("regex", "sniffio")


def apply(names: list[str]) -> None:
    if "regex" in names:
        from cityfabric.ngsild import regex

        regex.compile_regex = functools.lru_cache(maxsize=None)(  # type: ignore[assignment]
            regex.compile_regex.__wrapped__
        )
    if "sniffio" in names and "sniffio" not in sys.modules:
        stub = types.ModuleType("sniffio")
        stub.current_async_library = lambda: "asyncio"  # type: ignore[attr-defined]
        sys.modules["sniffio"] = stub


def site_dir(tmp: Path, names: list[str]) -> Path:
    """A directory with a sitecustomize.py applying `names`, for PYTHONPATH."""
    unknown = set(names) - set(PATCHES)
    if unknown:
        raise ValueError(f"unknown patches {sorted(unknown)}; known: {', '.join(PATCHES)}")
    site = tmp / "site"
    site.mkdir(exist_ok=True)
    bench = Path(__file__).resolve().parent
    (site / "sitecustomize.py").write_text(
        f"import sys\nsys.path.insert(0, {str(bench)!r})\n"
        f"import notify_patches\nnotify_patches.apply({names!r})\n"
    )
    return site
