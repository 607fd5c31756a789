"""A real uvicorn server on a free port, over real sockets; startup refusals; graceful stop."""

from __future__ import annotations

import io
import json
import shutil
import signal
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
from websockets.sync.client import connect

from ralis.bundle import BundleError
from ralis.client import replay
from service import cli
from service.app import create_app
from service.settings import Settings
from tests.service.servers import Server, free_port
from tests.service.testclient import TestClient

pytestmark = pytest.mark.slow  # real `ralis serve` subprocesses


def test_http_over_real_sockets(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/healthz").json()["status"] == "ok"
        info = client.get("/v1/model").json()
        assert info["execution_provider"] == "CPUExecutionProvider"
        window = np.random.default_rng(0).normal(size=(100, 3)).tolist()
        response = client.post("/v1/predict", json={"sensors": {"torso": window}})
        assert response.status_code == 200
        assert response.json()["views_used"] == ["torso"]
        assert client.post("/v1/predict", json={"sensors": {"x": window}}).status_code == 422
        assert "ralis_requests_total" in client.get("/metrics").text


def test_stream_over_real_sockets(server: Server) -> None:
    data = np.random.default_rng(1).normal(size=(125, 3))
    with connect(server.ws_url) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        for first in range(0, 125, 5):
            chunk = data[first : first + 5].tolist()
            message = {"type": "samples", "sensor": "left_leg", "samples": chunk, "t0": first / 25}
            ws.send(json.dumps(message))
        predictions = [json.loads(ws.recv(timeout=10)) for _ in range(2)]
    assert [p["t_end"] for p in predictions] == [4.0, 5.0]
    assert all(p["views_used"] == ["left_leg"] for p in predictions)


def write_fake_dsads(path: Path, subject: int, activities: list[int]) -> None:
    """A DSADS-layout zip with random 125 x 45 segments for a few activities."""
    rng = np.random.default_rng(subject)
    with zipfile.ZipFile(path, "w") as archive:
        for activity in activities:
            for segment in range(1, 61):
                buffer = io.StringIO()
                np.savetxt(buffer, rng.normal(size=(125, 45)), fmt="%.5f", delimiter=",")
                archive.writestr(
                    f"data/a{activity:02d}/p{subject}/s{segment:02d}.txt", buffer.getvalue()
                )


def test_replay_against_the_server(server: Server, tmp_path: Path) -> None:
    data = tmp_path / "dsads.zip"
    write_fake_dsads(data, subject=7, activities=[1, 3])
    out = io.StringIO()
    code = replay.main(
        ["--data", str(data), "--url", server.ws_url, "--activities", "1,3", "--seconds", "8",
         "--speed", "100", "--sensors", "torso,left_leg"],
        out=out,
    )  # fmt: skip
    text = out.getvalue()
    assert code == 0, text
    lines = [line for line in text.splitlines() if line.startswith("t=")]
    # 8 s per activity and 4 s windows on whole seconds: 4, 5, 6, 7, 8 s of each.
    assert len(lines) == 10
    assert sum("true=sitting " in line for line in lines) == 5
    assert sum("true=lying_back " in line for line in lines) == 5
    assert all("sensors=torso,left_leg " in line for line in lines)
    correct = sum(line.endswith(" ok") for line in lines)
    assert text.splitlines()[-1] == f"accuracy: {correct}/10 = {correct / 10:.3f}"


def test_sigterm_closes_streams_with_1001_and_exits_cleanly(bundle_dir: Path) -> None:
    running = Server(bundle_dir)
    with connect(running.ws_url) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        running.process.send_signal(signal.SIGTERM)
        with pytest.raises(Exception) as closed:
            ws.recv(timeout=10)
    assert ws.close_code == 1001, closed.value
    assert ws.close_reason == "server shutting down"
    # A clean shutdown exits 0 (uvicorn re-raises the signal; `ralis serve` absorbs it).
    assert running.stop() == 0
    assert "Traceback" not in running.output


def tampered(tiny_bundle: Path, tmp_path: Path) -> Path:
    bundle = tmp_path / "tampered"
    shutil.copytree(tiny_bundle, bundle)
    path = bundle / "encoder_left_arm.onnx"
    path.write_bytes(path.read_bytes()[:-1] + b"\x01")
    return bundle


def test_serve_refuses_a_tampered_bundle_with_a_clear_message(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tampered(tiny_bundle, tmp_path)
    assert cli.main(["--bundle", str(bundle), "--port", str(free_port())]) == 2
    error = capsys.readouterr().err
    assert "cannot use the model bundle" in error
    assert "encoder_left_arm.onnx: SHA-256 mismatch" in error
    assert "modified or corrupted" in error


def test_the_app_refuses_a_tampered_bundle_at_startup(tiny_bundle: Path, tmp_path: Path) -> None:
    settings = Settings(bundle_dir=tampered(tiny_bundle, tmp_path), execution_provider="cpu")
    with pytest.raises(BundleError, match="encoder_left_arm.onnx: SHA-256 mismatch"):
        with TestClient(create_app(settings)):
            pass


def test_serve_refuses_bad_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--port", "70000"]) == 2
    assert "invalid settings" in capsys.readouterr().err
