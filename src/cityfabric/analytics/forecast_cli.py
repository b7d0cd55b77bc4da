"""`cityfabric forecast`: run a forecast on a CityFabric server and print it as a table."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

out = Console()
err = Console(stderr=True)
LINK_REL = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'


def _body(
    entity: str | None,
    type_: str | None,
    attr: str,
    horizon: str,
    freq: str,
    levels: str,
    model: str,
) -> dict[str, Any]:
    try:
        level_list = [int(v) for v in levels.split(",") if v.strip()]
    except ValueError:
        err.print(f"[red]error:[/] --levels must be whole percentages like 80,95, not {levels!r}")
        raise typer.Exit(2) from None
    body: dict[str, Any] = {
        "attribute": attr,
        "horizon": int(horizon) if horizon.isdigit() else horizon,
        "frequency": freq,
        "levels": level_list,
        "model": model,
    }
    body["entity" if entity else "type"] = entity or type_
    return body


def _fmt(value: Any) -> str:
    return "" if value is None else f"{value:.3f}"


def _series_table(f: dict[str, Any]) -> Table:
    title = f"{f['entity']} {f['attribute']} ({f['model']}, {f['frequency']})"
    table = Table(title=title)
    bands = [k for k in f if k[:2] in ("lo", "hi") and k[2:].isdigit()]
    for name in ["time", "mean", *sorted(bands, key=lambda k: (int(k[2:]), k))]:
        table.add_column(name, justify="left" if name == "time" else "right")
    for i, t in enumerate(f["times"]):
        row = [f["mean"][i], *(f[b][i] for b in sorted(bands, key=lambda k: (int(k[2:]), k)))]
        table.add_row(t, *(_fmt(v) for v in row))
    return table


def _summary_table(forecasts: list[dict[str, Any]]) -> Table:
    table = Table(title=f"{len(forecasts)} forecasts")
    for name in ("entity", "model", "from", "to", "mean min", "mean max"):
        table.add_column(name)
    for f in forecasts:
        means = [m for m in f["mean"] if m is not None]
        low, high = (min(means), max(means)) if means else (None, None)
        table.add_row(f["entity"], f["model"], f["times"][0], f["times"][-1], _fmt(low), _fmt(high))
    return table


def forecast_command(
    attr: Annotated[str, typer.Option("--attr", help="the numeric attribute to forecast")],
    entity: Annotated[str | None, typer.Option(help="an entity id")] = None,
    type_: Annotated[
        str | None, typer.Option("--type", help="an entity type: forecast every entity of it")
    ] = None,
    horizon: Annotated[
        str, typer.Option(help="ISO 8601 duration (PT24H) or a count of periods")
    ] = "PT24H",
    freq: Annotated[str, typer.Option(help="period of the series, e.g. PT1H or PT15M")] = "PT1H",
    levels: Annotated[str, typer.Option(help="prediction interval levels, in %")] = "80,95",
    model: Annotated[str, typer.Option(help="auto, mstl, ets, arima or naive")] = "auto",
    url: Annotated[str, typer.Option(help="the CityFabric server")] = "http://127.0.0.1:8000",
    tenant: Annotated[str | None, typer.Option(help="NGSILD-Tenant")] = None,
    context: Annotated[str | None, typer.Option(help="@context URL for the names")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the answer")] = 600.0,
) -> None:
    """Forecast an attribute of an entity or of every entity of a type, store and print it."""
    if (entity is None) == (type_ is None):
        err.print("[red]error:[/] give either --entity or --type")
        raise typer.Exit(2)
    headers = {"Accept": "application/json"}
    if tenant:
        headers["NGSILD-Tenant"] = tenant
    if context:
        headers["Link"] = f"<{context}>; {LINK_REL}"
    body = _body(entity, type_, attr, horizon, freq, levels, model)
    what = entity or f"every {type_}"
    try:
        with err.status(f"forecasting {attr} of {what} ..."):
            resp = httpx.post(
                f"{url.rstrip('/')}/cityfabric/v1/forecasts",
                json=body,
                headers=headers,
                timeout=timeout,
            )
    except httpx.HTTPError as bad:
        err.print(f"[red]error:[/] cannot reach {url}: {bad}")
        raise typer.Exit(1) from None
    if resp.status_code != 201:
        try:
            problem = resp.json()
            reason = f"{problem.get('title')}: {problem.get('detail')}"
        except ValueError:
            reason = resp.text[:300]
        err.print(f"[red]error:[/] {resp.status_code} {reason}")
        raise typer.Exit(1)
    _print(resp.json())


def _print(answer: dict[str, Any]) -> None:
    forecasts = answer.get("forecasts", [])
    if len(forecasts) == 1:
        out.print(_series_table(forecasts[0]))
    else:
        out.print(_summary_table(forecasts))
    for skipped in answer.get("skipped", []):
        err.print(f"[yellow]skipped[/] {skipped['entity']}: {skipped['reason']}")
