"""`cityfabric evaluate nab`: the Numenta Anomaly Benchmark score of a detector."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cityfabric.analytics.nab import ProfileScore
from cityfabric.analytics.nab_data import NabDataError, find_series
from cityfabric.analytics.nab_run import detect, load_windows, published, score
from cityfabric.analytics.types import Series, SeriesScores

evaluate_app = typer.Typer(help="Evaluate CityFabric's analytics on public benchmarks.")
out = Console()
err = Console(stderr=True)
SHORT = {"standard": "standard", "reward_low_FP_rate": "low FP", "reward_low_FN_rate": "low FN"}


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _detector_scores(series: Sequence[Series]) -> list[SeriesScores]:
    with _progress() as bar:
        task = bar.add_task("detecting", total=len(series))
        return detect(series, step=lambda name: bar.update(task, advance=1, description=name))


def _file_table(results: Mapping[str, ProfileScore]) -> Table:
    table = Table(title="NAB raw score per file (at each profile's corpus threshold)")
    table.add_column("file", overflow="fold")
    table.add_column("windows", justify="right")
    for name in results:
        table.add_column(SHORT.get(name, name), justify="right")
    first = next(iter(results.values()))
    for k, f in enumerate(first.files):
        cells = [f"{r.files[k].tally.score:.3f}" for r in results.values()]
        table.add_row(f.name, str(f.windows), *cells)
    return table


def _total_table(results: Mapping[str, ProfileScore], files: int) -> Table:
    table = Table(title=f"NAB score over {files} files (null detector 0, perfect 100)")
    for column in ("profile", "threshold", "raw", "null", "perfect", "score"):
        table.add_column(column, justify="left" if column == "profile" else "right")
    for r in results.values():
        table.add_row(
            r.profile,
            f"{r.threshold:.6g}",
            f"{r.raw:.3f}",
            f"{r.null:.1f}",
            f"{r.perfect:.1f}",
            f"[bold]{r.score:.2f}[/]",
        )
    return table


@evaluate_app.command("nab")
def nab(
    labels: Annotated[
        Path, typer.Option(help="NAB combined_labels.json (or a windows file)", exists=True)
    ],
    data: Annotated[
        Path | None,
        typer.Option(help="folder of NAB series (group/file.csv); with --scores: files to keep"),
    ] = None,
    scores: Annotated[
        Path | None,
        typer.Option(
            help="score a detector's published output (CSV with a file column, or folder)"
        ),
    ] = None,
    windows: Annotated[
        Path | None,
        typer.Option(help="NAB combined_windows.json (default: NAB's windows around --labels)"),
    ] = None,
) -> None:
    """Run the default detector over every series under --data (or read --scores) and print
    per-file and total NAB scores for the standard, low-FP and low-FN profiles."""
    if data is None and scores is None:
        err.print("[red]error:[/] give --data (series to run the detector on) or --scores")
        raise typer.Exit(2)
    try:
        series = find_series(data) if data is not None else []
        found = load_windows(labels, windows, series)
        if scores is None:
            output = _detector_scores(series)
        else:
            output = published(scores, series if data is not None else None)
        results = score(output, found)
    except (NabDataError, OSError) as bad:
        err.print(f"[red]error:[/] {bad}")
        raise typer.Exit(2) from None
    out.print(_file_table(results))
    out.print(_total_table(results, len(output)))
