"""The bundle behind BentoML: one batchable API (adaptive batching), one worker.

Run inside the peers' venv: `bentoml serve bentoml_app:BundleService --port 8002` from this
folder, with $PEER_BUNDLE set (bench.peers does both). A request holds a list of windows
(BentoML merges the lists of concurrent requests into one batch): `{"windows": [{"sensors":
{view: [[x, y, z], ...]}}]}` -> a list of answers.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import bentoml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bundle_model import from_env  # noqa: E402  (beside this file, not a package here)


@bentoml.service(workers=1, traffic={"timeout": 60})
class BundleService:
    def __init__(self) -> None:
        self.model = from_env()

    @bentoml.api(batchable=True, max_batch_size=64, max_latency_ms=10_000)
    def predict(self, windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self.model.predict([self.model.decode(w["sensors"]) for w in windows])
