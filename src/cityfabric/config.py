"""Settings from CITYFABRIC_* environment variables, overridden by CLI flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from cityfabric.analytics.anomaly_config import DEFAULT_WATCH, parse_watch
from cityfabric.ngsild.errors import BadRequestData
from cityfabric.ngsild.temporal import parse_duration

ENV_PREFIX = "CITYFABRIC_"


@dataclass(frozen=True)
class Settings:
    """Every setting; each is documented in docs/configuration.md (a test checks it)."""

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    database_url: str | None = None  # postgresql://...: the PostgreSQL store; None: SQLite
    context_cache: Path | None = None
    max_body_bytes: int = 16 * 1024 * 1024
    readers: int = 4
    synchronous: str = "NORMAL"
    context_timeout: float = 5.0
    log_level: str = "info"
    workers: int = 1
    mqtt_url: str | None = None
    mqtt_client_id: str | None = None
    mqtt_share_group: str = "cityfabric"
    mqtt_session_expiry: int = 86_400
    device_profiles: Path | None = None
    temporal_max_instances: int = 10_000
    history_retention: str | None = None
    history_on_delete: str = "delete"
    retention_interval: float = 3600.0
    history_changes_retention: float = 86_400.0  # seconds the history change feed keeps
    forecast_interval: float = 0.0  # seconds between re-forecasts; 0: never
    notification_max_attempts: int = 10
    notification_retry_base: float = 1.0
    notification_retry_max: float = 300.0
    notification_timeout: float = 10.0
    notification_ca_file: Path | None = None
    notification_periodic_poll: float = 1.0
    notification_process: bool = True  # deliver from a process of its own (notify/process.py)
    anomaly_interval: float = 5.0  # seconds between anomaly detection cycles; 0: off
    anomaly_watch: str = DEFAULT_WATCH  # Type.attribute[:check+check], comma-separated
    anomaly_threshold: float = 0.9
    anomaly_clear_threshold: float = 0.3
    anomaly_clear_after: int = 4
    anomaly_warmup: int = 96
    anomaly_settle: float = 2.0
    anomaly_max_instances: int = 10_000
    ui_dir: Path | None = None  # the built dashboard; None: the package's ui_dist
    ui_tile_url: str | None = None  # a raster tile URL template under the dashboard's map

    def __post_init__(self) -> None:
        parse_watch(self.anomaly_watch)  # raises ValueError naming a bad entry
        if self.history_on_delete not in ("delete", "keep"):
            raise ValueError("history_on_delete must be 'delete' or 'keep'")
        if not self.notification_periodic_poll > 0:
            raise ValueError("notification_periodic_poll must be a number of seconds above 0")
        if not self.history_changes_retention > 0:
            raise ValueError("history_changes_retention must be a number of seconds above 0")
        if self.history_retention:
            self.history_retention_ms  # noqa: B018 - raises ValueError when malformed
        if self.database_url and not self.database_url.startswith(("postgresql://", "postgres://")):
            raise ValueError("database_url must be a postgresql://user@host:port/db URL")

    @property
    def history_retention_ms(self) -> int | None:
        """The default raw history retention in ms (None: keep forever)."""
        if not self.history_retention:
            return None
        try:
            duration = parse_duration(self.history_retention)
        except BadRequestData as err:
            raise ValueError(f"history_retention: {err.detail}") from None
        if duration.months or duration.ms <= 0:
            raise ValueError("history_retention must be a duration in days or less, e.g. P90D")
        return duration.ms

    @property
    def database_path(self) -> Path:
        return self.data_dir / "cityfabric.db"

    @property
    def hosted_contexts_dir(self) -> Path:
        return self.data_dir / "contexts"


TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _convert(kind: Any, raw: str) -> Any:
    text = str(kind)
    if "bool" in text:
        if raw.strip().lower() not in (*TRUE, *FALSE):
            raise ValueError("must be true or false")
        return raw.strip().lower() in TRUE
    if "int" in text:
        return int(raw)
    if "float" in text:
        return float(raw)
    if "Path" in text:
        return Path(raw) if raw else None
    return raw


def from_env(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, then from non-None keyword overrides (CLI flags)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = env.get(ENV_PREFIX + f.name.upper())
        if raw is not None:
            try:
                values[f.name] = _convert(f.type, raw)
            except ValueError as err:
                raise ValueError(f"{ENV_PREFIX}{f.name.upper()}={raw!r}: {err}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    return replace(Settings(), **values)


def to_env(settings: Settings) -> dict[str, str]:
    """The CITYFABRIC_* variables that reproduce `settings` (for worker processes)."""
    return {
        ENV_PREFIX + f.name.upper(): str(getattr(settings, f.name))
        for f in fields(Settings)
        if getattr(settings, f.name) is not None
    }
