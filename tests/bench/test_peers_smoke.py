"""Smoke runs of `bench.peers` (RALIS, LitServe, BentoML on the default bundle) and of the
CPU path of `bench.gpu_check`; helpers of both that need no server."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bench import gpu_check, peers
from bench.serverproc import process_tree, tree_cpu_seconds
from bench.stream_load import MessageBook, View, load_recordings
from service.frames import decode_frame

REPO = Path(__file__).resolve().parents[2]
SUBSET = REPO / "tests" / "fixtures" / "dsads_subset" / "dsads_subset.zip"
SMOKE_ENV = "RALIS_PEERS_SMOKE"


def test_ring_buffer_bodies_hold_the_last_four_seconds_of_real_rows() -> None:
    recordings = load_recordings(SUBSET, 1, subjects=(1,), seconds=10)
    views = [View("torso", [0, 1, 2]), View("left_leg", [36, 37, 38])]
    book = MessageBook(recordings, views)
    rings = peers.RingBook(book, "LitServe", window_chunks=20)
    body = json.loads(rings.body(0, 24))  # chunks 5..24: rows 25..124
    np.testing.assert_allclose(body["sensors"]["left_leg"], recordings[0].rows[25:125, 36:39])
    wrapped = json.loads(rings.body(0, book.chunks_per_recording + 2))  # a ring wraps around
    assert len(wrapped["sensors"]["torso"]) == 100
    bento = json.loads(peers.RingBook(book, "BentoML", 20).body(0, 24))
    assert bento["windows"][0]["sensors"] == body["sensors"]  # BentoML's batchable list


def test_a_frame_per_hop_holds_each_sensors_consecutive_chunks_as_one() -> None:
    recordings = load_recordings(SUBSET, 1, subjects=(1,), seconds=10)
    views = [View("torso", [0, 1, 2]), View("left_leg", [36, 37, 38])]
    book = MessageBook(recordings, views)
    chunks = decode_frame(book.frame(0, [0, 1], 5, 1.0, chunks=5), ["torso", "left_leg"])
    assert [(c.sensor, c.t0, c.samples.shape) for c in chunks] == [
        ("torso", 1.0, (25, 3)),
        ("left_leg", 1.0, (25, 3)),
    ]
    # Chunks 5-9 of 0.2 s at 25 Hz: rows 25-49 of the recording.
    np.testing.assert_allclose(chunks[1].samples, recordings[0].rows[25:50, 36:39], rtol=1e-6)


def test_spread_and_tree_cpu() -> None:
    assert peers._spread([3.0, 1.0, 2.0], ".1f") == "2.0 (1.0-3.0)"
    assert peers._spread([None, 4.0], ".1f") == "4.0"
    assert peers._spread([None], ".1f") == "-"
    child = subprocess.Popen(["sleep", "5"])
    try:
        assert child.pid in process_tree(os.getpid())
        assert tree_cpu_seconds(os.getpid()) > 0
    finally:
        child.kill()
        child.wait()


def test_replot_redraws_a_saved_runs_figure_from_its_json(tmp_path: Path) -> None:
    spans = [
        {"workload": w, "server": server, "server_cpu_ms": cpu, "p99_ms": p99}
        for w in ("HTTP windows, c=16", "200 devices")
        for server, cpu, p99 in (("RALIS", 7.0, 90.0), ("LitServe", 10.0, 12000.0))
    ]
    saved = tmp_path / "peers.json"
    saved.write_text(json.dumps({"spans": spans}))
    assert peers.main(["--replot", str(saved)]) == 0
    png = tmp_path / "peers.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_gpu_check_runs_its_steps_on_cpu(tmp_path: Path) -> None:
    """--provider cpu: the script's parity and load steps, end to end (not a GPU result)."""
    out = tmp_path / "gpu_check.json"
    argv = ["--provider", "cpu", "--streams", "2", "--warmup", "5", "--duration", "2",
            "--data", str(SUBSET), "--out", str(out)]  # fmt: skip
    assert gpu_check.main(argv) == 0
    payload = json.loads(out.read_text())
    assert payload["parity"]["argmax_agreement"] == 1.0
    assert payload["parity"]["max_probability_diff"] == 0.0  # CPU against CPU
    assert payload["parity"]["subsets"] == 31
    model_ms = payload["parity"]["model_ms_per_batch"]
    assert model_ms["batches"] == [1, 16, 64, 256]
    assert len(model_ms["cpu"]) == 4 and all(ms > 0 for ms in model_ms["cpu"])
    (level,) = payload["levels"]
    assert level["received"] == level["expected"] > 0 and level["errors"] == 0


@pytest.mark.parametrize("args", [["/nonexistent-venv"], ["--wheels", "/nonexistent-wheels"]])
def test_gpu_check_sh_fails_fast_without_a_gpu(args: list[str]) -> None:
    if subprocess.run(["sh", "-c", "command -v nvidia-smi"], capture_output=True).returncode == 0:
        pytest.skip("nvidia-smi is present: this machine may have a GPU")
    done = subprocess.run(
        ["bash", str(REPO / "bench" / "gpu_check.sh"), *args],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 3
    assert "no CUDA device" in done.stderr


@pytest.mark.slow
def test_peers_quick(tmp_path: Path) -> None:
    """Builds build/venv-peers from PyPI (~2 min) on first use, then ~1.5 min of rounds."""
    if os.environ.get(SMOKE_ENV) != "1":
        pytest.skip(
            f"set {SMOKE_ENV}=1 to run: it builds the peers' venv from PyPI (~2 min, network) "
            "and runs bench.peers --quick (~1.5 min); left out of CI for its time"
        )
    try:
        peers.ensure_venv()
    except peers.PeersUnavailable as exc:
        pytest.skip(f"peers' venv cannot be built here (offline?): {exc}")
    argv = ["--quick", "--data", str(SUBSET), "--subjects", "1", "2", "--devices", "6",
            "--out-dir", str(tmp_path)]  # fmt: skip
    assert peers.main(argv) == 0
    payload = json.loads((tmp_path / "peers_quick.json").read_text())
    spans = payload["spans"]
    assert {(s["server"], s["workload"]) for s in spans} == {
        (server, workload)
        for server in peers.SERVERS
        for workload in (
            "HTTP windows, c=16",
            "6 devices, 0.2 s frames",
            "6 devices, frame per hop",
        )
    }
    for span in spans:
        assert span["received"] == span["expected"] > 0, span
        assert span["errors"] == 0 and span["server_cpu_ms"] > 0 and span["model_ms"] > 0
        assert span["p50_ms"] <= span["p99_ms"]
    assert payload["versions"]["litserve"] == peers.PINS["litserve"]
