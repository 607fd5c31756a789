"""Markdown tables, and saving a benchmark's JSON and plot under one name."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on the benchmark machine

from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table; every row must have one cell per header."""
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row {list(row)} has {len(row)} cells; expected {len(headers)}")
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def format_load(load: Sequence[float]) -> str:
    """'1.23 / 1.10 / 0.90' (1, 5, 15 minutes)."""
    return " / ".join(f"{value:.2f}" for value in load)


def save_results(
    out_dir: Path, name: str, payload: dict[str, Any], figure: Figure, markdown: str
) -> tuple[Path, Path]:
    """Write `<name>.json`, `<name>.png` and the printed tables as `<name>.md` into `out_dir`.

    Returns the JSON and PNG paths.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{name}.json"
    png_path = out_dir / f"{name}.png"
    json_path.write_text(json.dumps(payload, indent=2) + "\n")
    (out_dir / f"{name}.md").write_text(markdown + "\n")
    figure.savefig(png_path, dpi=120, bbox_inches="tight")
    return json_path, png_path


def style_model_cost_axis(axis: Axes, xlabel: str) -> None:
    """The y axis, grid and legend of a whole-model CPU-per-prediction plot."""
    axis.set_xlabel(xlabel)
    axis.set_ylabel("CPU ms per prediction (whole model)")
    axis.set_ylim(bottom=0)
    axis.grid(alpha=0.3)
    axis.legend()
