"""Closed-loop HTTP load: C workers each POST real 5-sensor windows back to back (httpx)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
import numpy as np
import numpy.typing as npt

from bench.asyncio_runner import run


@dataclass
class HttpResult:
    """Latencies and statuses of the requests completed in the measured span."""

    concurrency: int
    measure_s: float
    windows_per_request: int
    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> int:
        return self.statuses.get("200", 0)

    @property
    def errors(self) -> int:
        return sum(self.statuses.values()) - self.ok

    @property
    def predictions_per_s(self) -> float:
        return self.ok * self.windows_per_request / self.measure_s

    @property
    def latency_array(self) -> npt.NDArray[np.float64]:
        return np.asarray(self.latencies_s, dtype=np.float64)


async def _drive(
    url: str,
    bodies: Sequence[bytes],
    concurrency: int,
    warmup_s: float,
    measure_s: float,
    windows_per_request: int,
) -> HttpResult:
    result = HttpResult(concurrency, measure_s, windows_per_request)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"content-type": "application/json"}
    started = time.perf_counter()
    measure_from = started + warmup_s
    measure_to = measure_from + measure_s

    async def worker(client: httpx.AsyncClient, index: int) -> None:
        n = index
        while True:
            sent = time.perf_counter()
            if sent >= measure_to:
                return
            try:
                response = await client.post(url, content=bodies[n % len(bodies)], headers=headers)
                status = str(response.status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            done = time.perf_counter()
            if measure_from <= sent and done < measure_to:
                result.statuses[status] += 1
                result.latencies_s.append(done - sent)
            n += concurrency

    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        await asyncio.gather(*(worker(client, i) for i in range(concurrency)))
    return result


def run_http(
    url: str,
    bodies: Sequence[bytes],
    concurrency: int,
    warmup_s: float,
    measure_s: float,
    windows_per_request: int = 1,
) -> HttpResult:
    """POST `bodies` round-robin from `concurrency` workers; count requests sent and completed
    inside the measured span (after `warmup_s`)."""
    return run(_drive(url, bodies, concurrency, warmup_s, measure_s, windows_per_request))
