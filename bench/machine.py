"""What machine a benchmark ran on, and an estimate of its peak FP32 FLOP/s."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class CpuInfo:
    """The CPU as lscpu and /proc/cpuinfo describe it."""

    model_name: str
    vendor: str
    family: int | None
    model: int | None
    logical_cpus: int
    clock_ghz: float
    clock_source: str
    has_avx2_fma: bool
    has_avx512f: bool


@dataclass(frozen=True)
class PeakEstimate:
    """Peak FP32 FLOP/s per core = clock x FLOPs per cycle, with the assumption spelled out."""

    flops_per_cycle: int
    clock_ghz: float
    per_core_gflops: float
    assumption: str

    def gflops(self, cores: int) -> float:
        """Peak GFLOP/s of `cores` cores."""
        return self.per_core_gflops * cores


def _lscpu() -> dict[str, str]:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def _cpuinfo_mhz() -> float | None:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    match = re.search(r"^cpu MHz\s*:\s*([\d.]+)", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def cpu_info() -> CpuInfo:
    """Read the CPU description; clock from lscpu's max MHz, else /proc/cpuinfo's cpu MHz."""
    fields = _lscpu()
    flags = set(fields.get("Flags", "").split())
    max_mhz = fields.get("CPU max MHz")
    if max_mhz:
        clock_ghz, source = float(max_mhz) / 1000, "lscpu 'CPU max MHz'"
    elif (mhz := _cpuinfo_mhz()) is not None:
        clock_ghz, source = mhz / 1000, "/proc/cpuinfo 'cpu MHz' (nominal; boost not visible)"
    else:
        clock_ghz, source = 0.0, "unknown"
    return CpuInfo(
        model_name=fields.get("Model name", platform.processor() or "unknown"),
        vendor=fields.get("Vendor ID", "unknown"),
        family=_int_or_none(fields.get("CPU family")),
        model=_int_or_none(fields.get("Model")),
        logical_cpus=os.cpu_count() or 1,
        clock_ghz=clock_ghz,
        clock_source=source,
        has_avx2_fma="avx2" in flags and "fma" in flags,
        has_avx512f="avx512f" in flags,
    )


def estimate_peak(cpu: CpuInfo) -> PeakEstimate:
    """FP32 FLOPs per cycle from the widest FMA the flags show (2 FMA pipes assumed).

    AMD Zen 4 (family 25) runs AVX-512 on 256-bit pipes, so it peaks like AVX2 there.
    """
    amd_256bit_pipes = cpu.vendor == "AuthenticAMD" and (cpu.family or 0) <= 25
    if cpu.has_avx512f and not amd_256bit_pipes:
        per_cycle, why = 64, "AVX-512: 2 FMA units x 16 FP32 lanes x 2 FLOPs"
    elif cpu.has_avx512f:
        per_cycle, why = (
            32,
            (
                "AVX-512 flag on AMD family 25 (Zen 3/4): 512-bit ops run on 2 x 256-bit FMA "
                "pipes, so 2 x 8 FP32 lanes x 2 FLOPs"
            ),
        )
    elif cpu.has_avx2_fma:
        per_cycle, why = 32, "AVX2+FMA: 2 FMA units x 8 FP32 lanes x 2 FLOPs"
    else:
        per_cycle, why = 8, "no FMA: SSE, 4 lanes x (1 add + 1 mul)"
    assumption = f"{why} per cycle at {cpu.clock_ghz:.2f} GHz ({cpu.clock_source})"
    return PeakEstimate(per_cycle, cpu.clock_ghz, per_cycle * cpu.clock_ghz, assumption)


def load_average() -> tuple[float, float, float]:
    """1, 5 and 15 minute load averages (other work on the machine skews timings)."""
    return os.getloadavg()


def environment() -> dict[str, Any]:
    """CPU, library versions and the current load, for a results file."""
    import numpy
    import torch

    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }
    try:
        import onnxruntime

        versions["onnxruntime"] = onnxruntime.__version__
    except ModuleNotFoundError:
        pass
    return {"cpu": asdict(cpu_info()), "versions": versions, "load_average": load_average()}
