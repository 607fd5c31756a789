"""Optional API keys: `Authorization: Bearer <key>` (or a first WebSocket message)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence

from fastapi import HTTPException, status

from service.metrics import Metrics

UNAUTHORIZED_DETAIL = "missing or invalid API key; send 'Authorization: Bearer <key>'"


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if there is one."""
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def key_is_valid(token: str | None, keys: Sequence[str]) -> bool:
    """Constant-time comparison against every configured key."""
    if token is None:
        return False
    presented = token.encode()
    matches = [hmac.compare_digest(presented, key.encode()) for key in keys]
    return any(matches)


def require_api_key(keys: Sequence[str], headers: Mapping[str, str], metrics: Metrics) -> None:
    """Raise 401 unless `keys` is empty or the headers carry one of them."""
    if keys and not key_is_valid(bearer_token(headers), keys):
        metrics.count_error("unauthorized")
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail=UNAUTHORIZED_DETAIL,
            headers={"WWW-Authenticate": "Bearer"},
        )
