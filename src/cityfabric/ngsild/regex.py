"""Regular expressions from users (q `~=`, idPattern, scopeQ), compiled once."""

from __future__ import annotations

import re
import warnings
from functools import lru_cache


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The compiled pattern, not cached (for callers that hold it, such as the matcher's
    index); raises re.error when it is invalid.

    Python warns (FutureWarning) about patterns whose meaning may change in a
    later version, such as `[a--b]`; they mean what they mean today.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return re.compile(pattern)


@lru_cache(maxsize=512)
def compile_regex(pattern: str) -> re.Pattern[str]:
    """`compile_pattern`, cached; raises re.error when it is invalid."""
    return compile_pattern(pattern)
