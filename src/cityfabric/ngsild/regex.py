"""Regular expressions from users (q `~=`, idPattern, scopeQ), compiled once."""

from __future__ import annotations

import re
import warnings
from functools import lru_cache


@lru_cache(maxsize=512)
def compile_regex(pattern: str) -> re.Pattern[str]:
    """The compiled pattern, cached; raises re.error when it is invalid.

    Python warns (FutureWarning) about patterns whose meaning may change in a
    later version, such as `[a--b]`; they mean what they mean today.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return re.compile(pattern)
