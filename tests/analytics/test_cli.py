"""`cityfabric evaluate nab` on a small folder of NAB series."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from cityfabric.cli import app
from tests.conftest import SHARED

NAB = SHARED / "nab"
FILES = ("realTraffic/speed_6005.csv", "realTraffic/TravelTime_451.csv")


def two_files(tmp_path: Path) -> Path:
    for name in FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(NAB / "data" / name, tmp_path / name)
    return tmp_path


def test_runs_the_detector_on_a_folder(tmp_path: Path) -> None:
    labels = str(NAB / "combined_labels.json")
    result = CliRunner().invoke(
        app, ["evaluate", "nab", "--data", str(two_files(tmp_path)), "--labels", labels]
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "speed_6005" in said and "TravelTime_451" in result.output
    assert "reward_low_FN_rate" in said and "over 2 files" in said


def test_scores_published_output_on_the_same_files(tmp_path: Path) -> None:
    args = ["evaluate", "nab", "--data", str(two_files(tmp_path))]
    args += ["--labels", str(NAB / "combined_labels.json")]
    args += ["--windows", str(NAB / "combined_windows.json")]
    args += ["--scores", str(NAB / "results" / "numenta")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "over 2 files" in " ".join(result.output.split())


def test_bad_input_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    labels = str(NAB / "combined_labels.json")
    result = CliRunner().invoke(
        app, ["evaluate", "nab", "--data", str(tmp_path), "--labels", labels]
    )
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "no .csv series" in said and "Traceback" not in said
