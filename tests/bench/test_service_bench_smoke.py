"""Smoke runs of the service benchmarks against a real server on the tiny bundle and the
committed DSADS subset: they run end to end and report what the server really did."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench import fuzz_ws, service_load, soak
from bench.soak import memory_trend
from bench.stream_load import MessageBook, View, load_recordings

REPO = Path(__file__).resolve().parents[2]
SUBSET = REPO / "tests" / "fixtures" / "dsads_subset" / "dsads_subset.zip"
SUBSET_ARGS = ["--data", str(SUBSET), "--subjects", "1", "2"]


def test_recordings_and_messages_are_real_dsads_rows() -> None:
    recordings = load_recordings(SUBSET, 3, subjects=(1, 2), seconds=10)
    assert [(r.subject, r.activity) for r in recordings] == [(1, 1), (2, 1), (1, 9)]
    assert all(r.rows.shape == (250, 45) for r in recordings)  # two whole 5 s segments
    views = [View("torso", [0, 1, 2]), View("left_leg", [36, 37, 38])]
    book = MessageBook(recordings, views)
    message = json.loads(book.message(0, 1, 3, 0.6))
    assert message["sensor"] == "left_leg" and message["t0"] == 0.6
    np.testing.assert_allclose(message["samples"], recordings[0].rows[15:20, 36:39])
    frame = book.frame(0, [0, 1], 3, 0.6)
    assert frame[:2] == bytes([1, 2])  # binary version 1, two chunks


def test_memory_trend_ignores_the_warm_up_and_sees_a_leak() -> None:
    times = [float(t) for t in range(0, 600, 5)]
    flat = memory_trend(times, [100.0 + (50.0 if t < 60 else 0.0) for t in times], 60.0)
    assert flat.growth_mib == 0.0 and flat.levelled_off
    leak = memory_trend(times, [100.0 + t / 60.0 for t in times], 60.0)  # 1 MiB a minute
    assert leak.late_slope_mib_per_min == pytest.approx(1.0)
    assert not leak.levelled_off


@pytest.mark.slow
def test_service_load_quick_against_a_real_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--quick", "--tiny-bundle", *SUBSET_ARGS, "--streams", "3", "--warmup", "4",
        "--duration", "2", "--saturation-streams", "0", "--http-concurrency", "2",
        "--http-warmup", "0.5", "--http-duration", "1", "--http-batch-windows", "4",
        "--out-dir", str(tmp_path),
    ]  # fmt: skip
    assert service_load.main(argv) == 0
    out = capsys.readouterr().out
    assert "Target, no errors or dropped predictions" in out

    payload = json.loads((tmp_path / "service_load_quick.json").read_text())
    streams = payload["streams"]
    assert [(r["label"], r["level"], r["hop_s"]) for r in streams] == [
        ("json", 3, 1.0),
        ("binary", 3, 1.0),
    ]
    for record in streams:
        assert record["connected"] == 3 and record["refused"] == {}
        assert record["expected"] > 0 and record["received"] == record["expected"]
        assert record["client_errors"] == {}
        assert 0 < record["latency_ms"]["p50"] <= record["latency_ms"]["p99"] < 5000
        assert record["server"]["predictions"] > 0 and record["server"]["errors"] == 0
        assert record["server"]["peak_rss_mib"] > 10
        # The run's own model cost, for the "server CPU <= 2x the model" ratio.
        assert record["extra"]["model_ms_per_prediction"] > 0
    # 5 sensors: one message per sensor and chunk (json) or one frame per chunk (binary).
    assert streams[0]["messages_per_s"] == pytest.approx(5 * streams[1]["messages_per_s"], rel=0.2)
    http = payload["http"]
    assert [(r["label"], r["level"]) for r in http] == [
        ("/v1/predict", 2),
        ("/v1/predict/batch", 2),
    ]
    assert all(r["received"] > 0 and r["client_errors"] == {} for r in http)
    bound = payload["compute_bound"]
    assert bound["at_server_batch"]["predictions_per_s"] > 0
    # The bound scales with the model threads that can run at once (one core each).
    assert bound["parallel_model_threads"] == service_load.parallel_batches(1, 2, 1)
    assert bound["fraction"] == pytest.approx(
        bound["service_predictions_per_s"]
        / (bound["parallel_model_threads"] * bound["at_server_batch"]["predictions_per_s"])
    )
    assert (tmp_path / "service_load_quick.png").stat().st_size > 0


@pytest.mark.slow
def test_soak_and_fuzz_quick_against_a_real_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--quick", "--tiny-bundle", *SUBSET_ARGS, "--streams", "5", "--duration", "6",
            "--warmup", "2", "--sample-every", "0.5", "--out-dir", str(tmp_path)]  # fmt: skip
    soak.main(argv)  # the verdict may fail on 4 s of samples; the run itself must complete
    payload = json.loads((tmp_path / "soak_quick.json").read_text())
    assert len(payload["samples"]["rss_mib"]) >= 8
    assert payload["predictions"] > 0 and payload["error_frames"] == {}
    assert payload["healthy_after"] is True

    assert (
        fuzz_ws.main(["--quick", "--tiny-bundle", "--cases", "20", "--out-dir", str(tmp_path)]) == 0
    )
    fuzz = json.loads((tmp_path / "fuzz_ws_quick.json").read_text())
    assert fuzz["passed"] and fuzz["failures"] == [] and fuzz["internal_errors"] == 0
    # Refused with 1009; the close frame may be lost in the reset while the frame is written.
    assert fuzz["by_family"]["over ws limit"] in ({"closed 1009": 1}, {"closed None": 1})
    assert fuzz["health"]["prediction"] == "prediction"
    assert "PASS" in capsys.readouterr().out
