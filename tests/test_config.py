"""Settings refuse values that cannot work, naming the setting."""

from __future__ import annotations

import pytest

from cityfabric.config import from_env


@pytest.mark.parametrize("seconds", ["0", "-1"])
def test_the_change_feed_must_keep_its_rows_a_while(seconds: str) -> None:
    with pytest.raises(ValueError, match="history_changes_retention must be a number"):
        from_env({"CITYFABRIC_HISTORY_CHANGES_RETENTION": seconds})


def test_delivery_runs_in_its_own_process_unless_told_otherwise() -> None:
    assert from_env({}).notification_process
    assert not from_env({"CITYFABRIC_NOTIFICATION_PROCESS": "false"}).notification_process


def test_a_switch_that_is_neither_true_nor_false_is_refused() -> None:
    with pytest.raises(ValueError, match="CITYFABRIC_NOTIFICATION_PROCESS='maybe': must be true"):
        from_env({"CITYFABRIC_NOTIFICATION_PROCESS": "maybe"})
