"""Per-window cost of one view encoder and of the head: onnxruntime vs torch eager.

Both runtimes run the same weights (the torch modules are exported to ONNX the way
`training.export` does it). FLOPs per window come from torch's FlopCounterMode and are
cross-checked against a count from the layer shapes; achieved FLOP/s is compared with an
estimate of this CPU's peak. Run: `python -m bench.encoders [--quick]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from matplotlib.figure import Figure
from torch import nn

from bench.flops import counted_flops, shape_flops
from bench.machine import PeakEstimate, cpu_info, environment, estimate_peak, load_average
from bench.onnx_parts import export_onnx, ort_session
from bench.report import RESULTS_DIR, format_load, markdown_table, save_results
from bench.timing import time_call
from model import RalisConfig, RalisModel, ViewConfig
from model.export import EncoderForExport, HeadForExport
from model.moe import SparseMoEHead
from ralis.bundle import ENCODER_INPUT, ENCODER_OUTPUT, HEAD_INPUTS, HEAD_OUTPUTS

# The default DSADS "acc" view set: 5 body positions x 3 accelerometer axes, 19 activities.
VIEW_NAMES = ("torso", "right_arm", "left_arm", "right_leg", "left_leg")
CHANNELS = 3
NUM_CLASSES = 19
EMBED_DIM = 128  # RalisConfig default
PARTS = ("encoder", "head")
RUNTIMES = ("torch", "onnxruntime")
BASELINE = "torch"


@dataclass(frozen=True)
class RuntimePoint:
    """Median time of one call of a part at one batch size and thread count."""

    part: str
    runtime: str
    batch: int
    threads: int
    median_s: float
    p25_s: float
    p75_s: float
    repeats: int

    @property
    def per_window_s(self) -> float:
        return self.median_s / self.batch


@dataclass(frozen=True)
class Parity:
    """Largest onnxruntime-vs-torch differences on random inputs."""

    encoder_max_abs_diff: float
    head_probability_max_abs_diff: float
    head_logit_max_abs_diff: float
    head_argmax_agreement: float
    samples: int


# ----------------------------------------------------------------------------- model


def build_model(
    seed: int, kernel_size: int | None = None, widths: tuple[int, int, int, int] | None = None
) -> RalisModel:
    """The RALIS network (default size unless `kernel_size` / `widths` say otherwise) with
    random weights, in eval mode.

    The gate is zero-initialised, which makes every expert tie in top-k; random gate
    weights give a distinct routing so both runtimes must pick the same experts.
    """
    torch.manual_seed(seed)
    sizes: dict[str, Any] = {}
    if kernel_size is not None:
        sizes["kernel_size"] = kernel_size
    if widths is not None:
        sizes["encoder_widths"] = widths
    config = RalisConfig(
        views=tuple(ViewConfig(name, CHANNELS) for name in VIEW_NAMES),
        num_classes=NUM_CLASSES,
        embed_dim=EMBED_DIM,
        **sizes,
    )
    model = RalisModel(config)
    head = model.head
    if isinstance(head, SparseMoEHead):
        nn.init.normal_(head.w_gate, std=0.5)
    for module in model.modules():
        # Non-trivial running statistics, as after training.
        if isinstance(module, nn.BatchNorm1d) and module.running_mean is not None:
            module.running_mean.normal_(0, 0.1)
        if isinstance(module, nn.BatchNorm1d) and module.running_var is not None:
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


# ----------------------------------------------------------------------------- inputs


def part_inputs(part: str, batch: int, window_samples: int, seed: int) -> dict[str, np.ndarray]:
    """Random float32 inputs of one part by ONNX input name; the head sees all 5 views."""
    rng = np.random.default_rng(seed)
    if part == "encoder":
        window = rng.standard_normal((batch, CHANNELS, window_samples), dtype=np.float32)
        return {ENCODER_INPUT: window}
    if part == "head":
        embeddings = rng.standard_normal((batch, len(VIEW_NAMES), EMBED_DIM), dtype=np.float32)
        return {HEAD_INPUTS[0]: embeddings, HEAD_INPUTS[1]: np.ones(embeddings.shape[:2], bool)}
    raise ValueError(f"unknown part '{part}'; known: {', '.join(PARTS)}")


def torch_call(module: nn.Module, feed: dict[str, np.ndarray]) -> Callable[[], object]:
    """Eager forward on tensors sharing the numpy buffers (no copy in the timed call)."""
    tensors = [torch.from_numpy(array) for array in feed.values()]

    def call() -> object:
        with torch.inference_mode():
            return module(*tensors)

    return call


def ort_call(session: ort.InferenceSession, feed: dict[str, np.ndarray]) -> Callable[[], object]:
    """onnxruntime run returning every output, as the torch module does."""
    return lambda: session.run(None, feed)


# ----------------------------------------------------------------------------- parity


def check_parity(
    encoder: nn.Module,
    head: nn.Module,
    encoder_session: ort.InferenceSession,
    head_session: ort.InferenceSession,
    window_samples: int,
    samples: int,
    seed: int,
) -> Parity:
    """Compare both runtimes on random windows and random non-empty view masks."""
    rng = np.random.default_rng(seed)
    windows = rng.standard_normal((samples * len(VIEW_NAMES), CHANNELS, window_samples))
    windows = windows.astype(np.float32)
    with torch.inference_mode():
        torch_embedding = encoder(torch.from_numpy(windows)).numpy()
    ort_embedding = encoder_session.run([ENCODER_OUTPUT], {ENCODER_INPUT: windows})[0]
    mask = rng.random((samples, len(VIEW_NAMES))) < 0.6
    mask[np.arange(samples), rng.integers(len(VIEW_NAMES), size=samples)] = True
    embeddings = torch_embedding.reshape(samples, len(VIEW_NAMES), -1)
    with torch.inference_mode():
        torch_probs, torch_logits, _, _ = head(torch.from_numpy(embeddings), torch.from_numpy(mask))
    ort_probs, ort_logits = head_session.run(
        [HEAD_OUTPUTS[0], HEAD_OUTPUTS[1]], {HEAD_INPUTS[0]: embeddings, HEAD_INPUTS[1]: mask}
    )
    return Parity(
        encoder_max_abs_diff=float(np.abs(ort_embedding - torch_embedding).max()),
        head_probability_max_abs_diff=float(np.abs(ort_probs - torch_probs.numpy()).max()),
        head_logit_max_abs_diff=float(np.abs(ort_logits - torch_logits.numpy()).max()),
        head_argmax_agreement=float(
            (ort_probs.argmax(-1) == torch_probs.numpy().argmax(-1)).mean()
        ),
        samples=samples,
    )


# ----------------------------------------------------------------------------- report


def _find(points: Sequence[RuntimePoint], **fields: object) -> RuntimePoint | None:
    for point in points:
        if all(getattr(point, key) == value for key, value in fields.items()):
            return point
    return None


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.3g}" if seconds < 1e-3 else f"{seconds * 1e6:,.0f}"


def runtime_table(points: Sequence[RuntimePoint], flops: dict[str, int], peak: PeakEstimate) -> str:
    """Per-window time of both runtimes, ORT speed-up over torch, GFLOP/s and % of peak."""
    rows = []
    keys = sorted(
        {(p.part, p.threads, p.batch) for p in points},
        key=lambda k: (PARTS.index(k[0]), k[1], k[2]),
    )
    for part, threads, batch in keys:
        eager = _find(points, part=part, runtime="torch", threads=threads, batch=batch)
        onnx_rt = _find(points, part=part, runtime="onnxruntime", threads=threads, batch=batch)
        if eager is None or onnx_rt is None:
            continue
        peak_gflops = peak.gflops(threads)
        cells: list[object] = [
            part,
            batch,
            threads,
            _us(eager.per_window_s),
            _us(onnx_rt.per_window_s),
            f"{eager.per_window_s / onnx_rt.per_window_s:.2f}",
        ]
        for point in (eager, onnx_rt):
            gflops = flops[part] / point.per_window_s / 1e9
            cells += [f"{gflops:.2f}", f"{gflops / peak_gflops:.1%}"]
        rows.append(cells)
    headers = [
        "part",
        "batch",
        "threads",
        "torch (us/window)",
        "onnxruntime (us/window)",
        "torch / ort",
        "torch GFLOP/s",
        "torch % peak",
        "ort GFLOP/s",
        "ort % peak",
    ]
    return markdown_table(headers, rows)


def prediction_table(points: Sequence[RuntimePoint]) -> str:
    """One prediction = 5 encoder windows + 1 head row; predictions/s of each runtime."""
    rows = []
    keys = sorted({(p.threads, p.batch) for p in points})
    for threads, batch in keys:
        cells: list[object] = [batch, threads]
        for runtime in RUNTIMES:
            enc = _find(points, part="encoder", runtime=runtime, threads=threads, batch=batch)
            head = _find(points, part="head", runtime=runtime, threads=threads, batch=batch)
            if enc is None or head is None:
                cells += ["-", "-"]
                continue
            per_prediction = len(VIEW_NAMES) * enc.per_window_s + head.per_window_s
            cells += [_us(per_prediction), f"{1 / per_prediction:,.0f}"]
        rows.append(cells)
    headers = [
        "batch",
        "threads",
        "torch (us/prediction)",
        "torch predictions/s",
        "ort (us/prediction)",
        "ort predictions/s",
    ]
    return markdown_table(headers, rows)


def plot(points: Sequence[RuntimePoint], batches: Sequence[int]) -> Figure:
    """Per-window time vs batch (log-log), one panel per part."""
    figure = Figure(figsize=(9, 3.8))
    axes = figure.subplots(1, len(PARTS))
    for ax, part in zip(axes, PARTS, strict=True):
        for runtime in RUNTIMES:
            for threads in sorted({p.threads for p in points}):
                series = sorted(
                    (p.batch, p.per_window_s * 1e6)
                    for p in points
                    if p.part == part and p.runtime == runtime and p.threads == threads
                )
                if series:
                    style = "o-" if runtime == "onnxruntime" else "s--"
                    label = f"{runtime}, {threads} thread{'s' if threads > 1 else ''}"
                    ax.plot(*zip(*series, strict=True), style, label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(list(batches), [str(b) for b in batches])
        ax.set_xlabel("batch")
        ax.set_ylabel("us per window")
        ax.set_title("one view encoder" if part == "encoder" else "head (fusion + MoE, 5 views)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short timing (<60 s)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--window-samples", type=int, default=100, help="samples per window (100 = 4 s at 25 Hz)"
    )
    parser.add_argument(
        "--kernel-size", type=int, default=None, help="encoder kernel size (default: the model's)"
    )
    parser.add_argument(
        "--widths",
        type=lambda text: tuple(int(w) for w in text.split(",")),
        default=None,
        help="encoder block widths, e.g. 64,128,128,256 (default: the model's)",
    )
    parser.add_argument("--parity-samples", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if min(args.batches) < 1 or min(args.threads) < 1:
        parser.error(f"batches and threads must be >= 1; got {args.batches}, {args.threads}")
    return args


@dataclass(frozen=True)
class TimingPlan:
    """How long to time each (part, runtime, batch, threads) point."""

    warmup: int
    min_repeats: int
    min_seconds: float


QUICK_TIMING = TimingPlan(warmup=3, min_repeats=10, min_seconds=0.1)
FULL_TIMING = TimingPlan(warmup=10, min_repeats=50, min_seconds=2.0)


def export_parts(
    modules: dict[str, nn.Module], example: dict[str, dict[str, np.ndarray]], out_dir: Path
) -> dict[str, Path]:
    """Both parts as ONNX files in `out_dir`, with the bundle's I/O names."""
    names = {"encoder": ([ENCODER_INPUT], [ENCODER_OUTPUT]), "head": (HEAD_INPUTS, HEAD_OUTPUTS)}
    paths = {}
    for part in PARTS:
        paths[part] = out_dir / f"{part}.onnx"
        args = tuple(torch.from_numpy(a) for a in example[part].values())
        export_onnx(modules[part], args, paths[part], *names[part])
    return paths


def measure_runtimes(
    modules: dict[str, nn.Module],
    paths: dict[str, Path],
    args: argparse.Namespace,
    plan: TimingPlan,
) -> list[RuntimePoint]:
    """Time torch and onnxruntime on the same inputs at every thread count and batch."""
    points: list[RuntimePoint] = []
    threads_before = torch.get_num_threads()
    try:
        for threads in args.threads:
            torch.set_num_threads(threads)
            sessions = {part: ort_session(paths[part], threads) for part in PARTS}
            for part in PARTS:
                for batch in args.batches:
                    feed = part_inputs(part, batch, args.window_samples, args.seed)
                    calls = {
                        "torch": torch_call(modules[part], feed),
                        "onnxruntime": ort_call(sessions[part], feed),
                    }
                    for runtime in RUNTIMES:
                        measured = time_call(
                            calls[runtime], plan.warmup, plan.min_repeats, plan.min_seconds
                        )
                        p25, p75 = measured.iqr
                        points.append(
                            RuntimePoint(
                                part,
                                runtime,
                                batch,
                                threads,
                                measured.median,
                                p25,
                                p75,
                                len(measured.samples),
                            )
                        )
    finally:
        torch.set_num_threads(threads_before)
    return points


def main(argv: Sequence[str] | None = None) -> int:
    """Export, check parity, time both runtimes, print tables, save JSON and plot."""
    args = parse_args(argv)
    env = environment()
    peak = estimate_peak(cpu_info())
    model = build_model(args.seed, args.kernel_size, args.widths)
    modules: dict[str, nn.Module] = {
        "encoder": EncoderForExport(model, VIEW_NAMES[0]).eval(),
        "head": HeadForExport.of(model).eval(),
    }
    example = {part: part_inputs(part, 2, args.window_samples, args.seed) for part in PARTS}
    one_window = {
        part: tuple(torch.from_numpy(a[:1]) for a in example[part].values()) for part in PARTS
    }
    flops_counted = {part: counted_flops(modules[part], one_window[part]) for part in PARTS}
    flops_shapes = {part: shape_flops(modules[part], one_window[part]) for part in PARTS}
    plan = QUICK_TIMING if args.quick else FULL_TIMING
    with tempfile.TemporaryDirectory(prefix="bench-encoders-") as tmp:
        paths = export_parts(modules, example, Path(tmp))
        parity = check_parity(
            modules["encoder"],
            modules["head"],
            ort_session(paths["encoder"], 1),
            ort_session(paths["head"], 1),
            args.window_samples,
            args.parity_samples,
            args.seed,
        )
        points = measure_runtimes(modules, paths, args, plan)
    load_after = load_average()

    cpu = env["cpu"]
    versions = env["versions"]
    name = "encoders_quick" if args.quick else "encoders"
    lines = [
        f"### Encoder and head: onnxruntime vs torch eager{' (quick)' if args.quick else ''}",
        "",
        f"CPU: {cpu['model_name']} (family {cpu['family']}, model {cpu['model']}, "
        f"{cpu['logical_cpus']} logical CPUs), torch {versions['torch']}, onnxruntime "
        f"{versions.get('onnxruntime')}; window {CHANNELS} x {args.window_samples}, "
        f"encoder widths {'/'.join(map(str, model.config.encoder_widths))}, kernel "
        f"{model.config.kernel_size}, "
        f"embedding {EMBED_DIM}, {len(VIEW_NAMES)} views, {NUM_CLASSES} classes; median per call "
        f"over >= {plan.min_repeats} calls and >= {plan.min_seconds} s after "
        f"{plan.warmup} warm-up; load average before {format_load(env['load_average'])}, "
        f"after {format_load(load_after)}.",
        "",
        f"Peak estimate: {peak.per_core_gflops:.1f} GFLOP/s per core = {peak.assumption}. "
        "'% peak' divides by the peak of as many cores as threads.",
        "",
        markdown_table(
            ["part", "FLOPs/window (FlopCounterMode)", "FLOPs/window (layer shapes)"],
            [[part, f"{flops_counted[part]:,}", f"{flops_shapes[part]:,}"] for part in PARTS],
        ),
        "",
        runtime_table(points, flops_counted, peak),
        "",
        "One prediction (5 encoder windows + head), from the rows above:",
        "",
        prediction_table(points),
        "",
        f"Parity on {parity.samples} samples (random windows, random non-empty view masks): "
        f"encoder max |diff| {parity.encoder_max_abs_diff:.2e}, head probabilities "
        f"{parity.head_probability_max_abs_diff:.2e}, logits "
        f"{parity.head_logit_max_abs_diff:.2e}, argmax agreement "
        f"{parity.head_argmax_agreement:.1%}.",
    ]
    report = "\n".join(lines)
    print(report)
    payload = {
        "benchmark": "encoders",
        "quick": args.quick,
        "environment": env,
        "load_average_after": load_after,
        "settings": {
            "window_samples": args.window_samples,
            "channels": CHANNELS,
            "views": list(VIEW_NAMES),
            "num_classes": NUM_CLASSES,
            "batches": args.batches,
            "threads": args.threads,
            "timing": asdict(plan),
        },
        "baseline": BASELINE,
        "peak": asdict(peak),
        "flops_per_window": {"flop_counter": flops_counted, "layer_shapes": flops_shapes},
        "parity": asdict(parity),
        "points": [asdict(p) | {"per_window_s": p.per_window_s} for p in points],
    }
    figure = plot(points, args.batches)
    json_path, png_path = save_results(args.out_dir, name, payload, figure, report)
    print(f"\nsaved {json_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
