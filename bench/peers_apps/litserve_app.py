"""The bundle behind LitServe: decode -> batch -> predict -> unbatch -> encode, one worker.

Run inside the peers' venv: `python bench/peers_apps/litserve_app.py --port 8001`, with
$PEER_BUNDLE set (bench.peers does both).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import litserve as ls

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bundle_model import from_env  # noqa: E402  (beside this file, not a package here)


class BundleAPI(ls.LitAPI):
    """POST /predict {"sensors": {view: [[x, y, z], ...]}} -> activity, probabilities."""

    def setup(self, device: str) -> None:
        self.model = from_env()

    # Unannotated: LitServe reads this annotation to build its endpoint (a parsed JSON body).
    def decode_request(self, request):  # type: ignore[no-untyped-def]
        return self.model.decode(request["sensors"])

    def batch(self, inputs: list[Any]) -> list[Any]:
        return inputs  # windows of different requests may hold different views

    def predict(self, x: list[Any]) -> list[dict[str, Any]]:
        return self.model.predict(x)

    def unbatch(self, output: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return output

    def encode_response(self, output: dict[str, Any]) -> dict[str, Any]:
        return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-batch-size", type=int, default=64)
    parser.add_argument("--batch-timeout", type=float, default=0.002, help="seconds")
    args = parser.parse_args()
    api = BundleAPI(max_batch_size=args.max_batch_size, batch_timeout=args.batch_timeout)
    # fast_queue: ZeroMQ between the API server and the worker, LitServe's advice above 100 RPS.
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1, fast_queue=True, timeout=60)
    server.run(
        host="127.0.0.1",
        port=args.port,
        num_api_servers=1,
        log_level="warning",
        generate_client_file=False,
    )


if __name__ == "__main__":
    main()
