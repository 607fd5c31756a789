"""Container health probe: exit 0 when the service answers /healthz with 200, else 1.

Used by the image's HEALTHCHECK and by docker-compose (python:3.11-slim has no curl), and run
by .ci/run against a live service so the probe itself is tested.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    """Probe the local service; the URL may be given as the first argument."""
    port = os.environ.get("RALIS_PORT", "8000")
    url = sys.argv[1] if len(sys.argv) > 1 else f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            healthy = response.status == 200
    except (urllib.error.URLError, OSError) as exc:
        sys.stderr.write(f"healthcheck: {url} unreachable: {exc}\n")
        return 1
    if not healthy:
        sys.stderr.write(f"healthcheck: {url} answered {response.status}, expected 200\n")
    return 0 if healthy else 1


if __name__ == "__main__":
    raise SystemExit(main())
