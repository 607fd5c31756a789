"""`bench.model_thread`: the whole model timed on the main thread and on a worker thread."""

from __future__ import annotations

import json
from pathlib import Path

from bench import model_thread


def test_every_mix_and_place_is_timed(tmp_path: Path) -> None:
    out = tmp_path / "model_thread.json"
    assert (
        model_thread.main(["--seconds", "0.05", "--switch-interval-ms", "1", "--out", str(out)])
        == 0
    )
    payload = json.loads(out.read_text())
    assert payload["switch_interval_s"] == 0.001
    cells = {(c["mix"], c["place"]): c for c in payload["cells"]}
    assert set(cells) == {(m, p) for m in model_thread.MIXES for p in model_thread.PLACES}
    for cell in cells.values():
        assert cell["calls"] >= 1
        assert cell["wall_ms_per_batch"] >= cell["cpu_ms_per_batch"] * 0.5 > 0
