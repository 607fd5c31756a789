"""FastAPI's TestClient, imported without starlette's request to install `httpx2`.

The `httpx` it falls back to works the same for these tests; pytest turns warnings into errors.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

__all__ = ["TestClient"]
