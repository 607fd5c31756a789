"""Benchmark helpers: peak estimate, timing loop, Markdown tables."""

from __future__ import annotations

import os

import pytest

from bench import service_load
from bench.machine import CpuInfo, estimate_peak
from bench.report import markdown_table
from bench.timing import time_call


def _cpu(vendor: str, family: int, avx512: bool, avx2: bool = True) -> CpuInfo:
    return CpuInfo("test", vendor, family, 1, 2, 3.0, "test", avx2, avx512)


@pytest.mark.parametrize(
    ("cpu", "per_cycle"),
    [
        (_cpu("GenuineIntel", 6, avx512=True), 64),
        (_cpu("AuthenticAMD", 25, avx512=True), 32),  # Zen 4: 512-bit ops on 256-bit pipes
        (_cpu("GenuineIntel", 6, avx512=False), 32),
        (_cpu("GenuineIntel", 6, avx512=False, avx2=False), 8),
    ],
)
def test_peak_follows_the_widest_fma(cpu: CpuInfo, per_cycle: int) -> None:
    peak = estimate_peak(cpu)
    assert peak.flops_per_cycle == per_cycle
    assert peak.per_core_gflops == pytest.approx(per_cycle * 3.0)
    assert peak.gflops(2) == pytest.approx(2 * per_cycle * 3.0)
    assert "3.00 GHz" in peak.assumption


def test_time_call_warms_up_then_repeats() -> None:
    calls: list[int] = []
    timing = time_call(lambda: calls.append(1), warmup=3, min_repeats=5, min_seconds=0.0)
    assert len(timing.samples) == 5 and len(calls) == 8
    assert timing.iqr[0] <= timing.median <= timing.iqr[1]
    with pytest.raises(ValueError, match="min_repeats"):
        time_call(lambda: None, min_repeats=0)


def test_markdown_table_shape() -> None:
    assert markdown_table(["a", "b"], [[1, 2]]).splitlines() == [
        "| a | b |",
        "|---|---|",
        "| 1 | 2 |",
    ]
    with pytest.raises(ValueError, match="expected 2"):
        markdown_table(["a", "b"], [[1]])


def test_stream_start_phases_are_random_within_the_spread_and_reproducible() -> None:
    from bench.stream_load import LoadPlan

    plan = LoadPlan(streams=200, warmup_s=1, measure_s=1, hop_s=1.0, seed=3)
    phases = plan.phases()
    assert len(phases) == 200 and all(0.0 <= p < 1.0 for p in phases)
    assert phases == plan.phases()  # same seed, same phases
    gaps = [b - a for a, b in zip(sorted(phases), sorted(phases)[1:], strict=False)]
    assert max(gaps) > 3 * min(gaps)  # not evenly spread: some hops complete together
    synchronised = LoadPlan(streams=200, warmup_s=1, measure_s=1, phase_spread_s=0.2).phases()
    assert max(synchronised) < 0.2


def test_main_thread_cpu_is_counted_apart_from_other_threads() -> None:
    """A busy side thread adds to the process's CPU but not to its main thread's."""
    import os
    import threading
    import time

    from bench.serverproc import cpu_percent, sample_process

    def spin(seconds: float) -> None:
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass

    before = sample_process(os.getpid())
    side = threading.Thread(target=spin, args=(0.3,))
    side.start()
    side.join()
    after = sample_process(os.getpid())
    process_cpu = after.cpu_s - before.cpu_s
    main_cpu = after.main_thread_cpu_s - before.main_thread_cpu_s
    assert process_cpu >= 0.2  # process_time counts every thread: at least 0.3 s minus ticks
    assert main_cpu < process_cpu - 0.1
    assert cpu_percent(before, after, main_thread=True) < cpu_percent(before, after)


def test_parallel_batches_counts_workers_model_threads_and_cores() -> None:
    cores = len(os.sched_getaffinity(0))
    assert service_load.parallel_batches(1, 1, 1) == 1
    assert service_load.parallel_batches(1, 2, 1) == min(2, cores)
    assert service_load.parallel_batches(2, 2, 1) == min(4, cores)
    # A batch that uses every core's intra-op thread leaves room for one at a time.
    assert service_load.parallel_batches(1, 2, cores) == 1
    assert service_load.parallel_batches(4, 64, 0) == 1  # 0: onnxruntime's, every core
