"""A server process tunes its garbage collector once started; apps made in tests don't."""

from __future__ import annotations

import gc
from pathlib import Path

from fastapi.testclient import TestClient

from cityfabric import heap
from cityfabric.app import create_app
from cityfabric.config import Settings
from tests.conftest import SDM_CONTEXTS


def test_a_server_freezes_what_it_loaded_and_collects_less_often(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", context_cache=SDM_CONTEXTS, notification_process=False
    )
    before = gc.get_threshold()
    try:
        with TestClient(create_app(settings)):
            assert gc.get_threshold() == before  # an app like any test's: left alone
        with TestClient(create_app(settings, settle_heap=True)):
            assert gc.get_threshold() == (heap.YOUNG, heap.MIDDLE, heap.OLD)
            assert gc.get_freeze_count() > 10_000  # the contexts, modules, caches
    finally:
        gc.unfreeze()  # back to the oldest generation: collected as usual again
        gc.set_threshold(*before)
