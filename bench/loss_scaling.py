"""Forward+backward time of the contrastive losses as the number of views grows (paper 6.4).

The adjusted-center loss contrasts each view with one center (V pairs per sample); the
full graph contrasts every pair of views (V(V-1)/2 pairs), so their cost ratio should be
about (V-1)/2. COCOA is the third baseline. Run: `python -m bench.loss_scaling [--quick]`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from bench.machine import environment, load_average
from bench.report import RESULTS_DIR, format_load, markdown_table, save_results
from bench.timing import time_call
from model.fusion import masked_softmax
from model.losses import adjusted_center_loss, cocoa_loss, full_graph_loss

LOSSES = ("adjusted_center", "full_graph", "cocoa")
BASELINE = "adjusted_center"
TEMPERATURE = 0.1  # RalisConfig's default
# The paper's target: at this point the adjusted center beats the full graph by this factor.
TARGET_VIEWS, TARGET_BATCH, TARGET_SPEEDUP = 15, 256, 5.0


@dataclass(frozen=True)
class LossPoint:
    """One measured (loss, V, N, threads, missing fraction) point."""

    loss: str
    num_views: int
    batch: int
    threads: int
    missing_fraction: float
    median_s: float
    p25_s: float
    p75_s: float
    repeats: int


@dataclass(frozen=True)
class Plan:
    """Which points to measure and how long to time each."""

    views: tuple[int, ...]
    batches: tuple[int, ...]
    dim: int
    warmup: int
    min_repeats: int
    min_seconds: float
    missing_fraction: float
    seed: int


def make_inputs(
    num_views: int, batch: int, dim: int, missing_fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random embeddings `(N, V, D)` (requires grad), softmax weights `(N, V)`, mask `(N, V)`.

    With missing views every sample keeps at least one, as the model requires.
    """
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, num_views, dim, generator=generator).requires_grad_()
    mask = torch.rand(batch, num_views, generator=generator) >= missing_fraction
    empty = ~mask.any(dim=1)
    keep = torch.randint(num_views, (batch,), generator=generator)
    mask[empty, keep[empty]] = True
    weights = masked_softmax(torch.randn(batch, num_views, generator=generator), mask)
    return z, weights, mask


def loss_step(
    loss: str, z: torch.Tensor, weights: torch.Tensor, mask: torch.Tensor
) -> Callable[[], None]:
    """One forward+backward of `loss` on fixed inputs."""
    compute: Callable[[], torch.Tensor]
    if loss == "adjusted_center":
        compute = lambda: adjusted_center_loss(z, weights, mask, TEMPERATURE)  # noqa: E731
    elif loss == "full_graph":
        compute = lambda: full_graph_loss(z, mask, TEMPERATURE)  # noqa: E731
    elif loss == "cocoa":
        compute = lambda: cocoa_loss(z, mask, TEMPERATURE)  # noqa: E731
    else:
        raise ValueError(f"unknown loss '{loss}'; known: {', '.join(LOSSES)}")

    def step() -> None:
        z.grad = None
        compute().backward()  # type: ignore[no-untyped-call]

    return step


def measure(
    loss: str, num_views: int, batch: int, threads: int, missing_fraction: float, plan: Plan
) -> LossPoint:
    """Median forward+backward seconds of one point at `threads` intra-op threads."""
    torch.set_num_threads(threads)
    z, weights, mask = make_inputs(num_views, batch, plan.dim, missing_fraction, plan.seed)
    timing = time_call(
        loss_step(loss, z, weights, mask),
        warmup=plan.warmup,
        min_repeats=plan.min_repeats,
        min_seconds=plan.min_seconds,
    )
    p25, p75 = timing.iqr
    return LossPoint(
        loss,
        num_views,
        batch,
        threads,
        missing_fraction,
        timing.median,
        p25,
        p75,
        len(timing.samples),
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g}" if seconds < 1 else f"{seconds * 1e3:,.0f}"


def _find(points: Sequence[LossPoint], **fields: object) -> LossPoint | None:
    for point in points:
        if all(getattr(point, key) == value for key, value in fields.items()):
            return point
    return None


def scaling_table(points: Sequence[LossPoint], plan: Plan) -> str:
    """All-views, 1-thread grid: times and ratios against the adjusted center."""
    rows = []
    for batch in plan.batches:
        for num_views in plan.views:
            found = [
                _find(
                    points,
                    loss=k,
                    num_views=num_views,
                    batch=batch,
                    threads=1,
                    missing_fraction=0.0,
                )
                for k in LOSSES
            ]
            if any(p is None for p in found):
                continue
            ac, fg, co = (p.median_s for p in found if p is not None)
            rows.append(
                [
                    num_views,
                    batch,
                    _ms(ac),
                    _ms(fg),
                    _ms(co),
                    f"{fg / ac:.2f}",
                    f"{(num_views - 1) / 2:.1f}",
                    f"{co / ac:.2f}",
                ]
            )
    headers = [
        "V",
        "N",
        "adjusted center (ms)",
        "full graph (ms)",
        "COCOA (ms)",
        "full / adjusted",
        "(V-1)/2",
        "COCOA / adjusted",
    ]
    return markdown_table(headers, rows)


def missing_table(points: Sequence[LossPoint]) -> str:
    """Views missing at random (1 thread) against the same point with every view present."""
    rows = []
    for point in points:
        if point.threads != 1 or point.missing_fraction == 0.0:
            continue
        where = dict(num_views=point.num_views, batch=point.batch, threads=1)
        base = _find(points, loss=BASELINE, missing_fraction=point.missing_fraction, **where)
        complete = _find(points, loss=point.loss, missing_fraction=0.0, **where)
        rows.append(
            [
                point.loss,
                point.num_views,
                point.batch,
                f"{point.missing_fraction:.0%}",
                _ms(point.median_s),
                f"{point.median_s / base.median_s:.2f}" if base else "-",
                f"{point.median_s / complete.median_s:.2f}" if complete else "-",
            ]
        )
    headers = [
        "loss",
        "V",
        "N",
        "views missing",
        "time (ms)",
        "/ adjusted center",
        "/ same loss, all views",
    ]
    return markdown_table(headers, rows)


def threads_table(points: Sequence[LossPoint]) -> str:
    """2 intra-op threads against 1 thread at the same point."""
    rows = []
    for point in points:
        if point.threads == 1:
            continue
        where = dict(num_views=point.num_views, batch=point.batch, missing_fraction=0.0)
        base = _find(points, loss=BASELINE, threads=point.threads, **where)
        one_thread = _find(points, loss=point.loss, threads=1, **where)
        rows.append(
            [
                point.loss,
                point.num_views,
                point.batch,
                point.threads,
                _ms(one_thread.median_s) if one_thread else "-",
                _ms(point.median_s),
                f"{one_thread.median_s / point.median_s:.2f}" if one_thread else "-",
                f"{point.median_s / base.median_s:.2f}" if base else "-",
            ]
        )
    headers = [
        "loss",
        "V",
        "N",
        "threads",
        "1 thread (ms)",
        "time (ms)",
        "speed-up vs 1 thread",
        "/ adjusted center",
    ]
    return markdown_table(headers, rows)


def target_check(points: Sequence[LossPoint]) -> dict[str, object]:
    """The adjusted center must be >= TARGET_SPEEDUP x faster than the full graph at V=15, N=256."""
    where = dict(num_views=TARGET_VIEWS, batch=TARGET_BATCH, threads=1, missing_fraction=0.0)
    ac = _find(points, loss="adjusted_center", **where)
    fg = _find(points, loss="full_graph", **where)
    if ac is None or fg is None:
        return {"measured": False, "passed": None, "speedup": None, "required": TARGET_SPEEDUP}
    speedup = fg.median_s / ac.median_s
    return {
        "measured": True,
        "passed": speedup >= TARGET_SPEEDUP,
        "speedup": speedup,
        "required": TARGET_SPEEDUP,
    }


def plot(points: Sequence[LossPoint], plan: Plan):  # type: ignore[no-untyped-def]
    """Time vs V (log y) per batch size, plus the full / adjusted ratio against (V-1)/2."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2 * (len(plan.batches) + 1), 3.8))
    axes = figure.subplots(1, len(plan.batches) + 1)
    styles = {"adjusted_center": "o-", "full_graph": "s-", "cocoa": "^-"}
    main_grid = [p for p in points if p.threads == 1 and p.missing_fraction == 0.0]
    for ax, batch in zip(axes[:-1], plan.batches, strict=True):
        for loss in LOSSES:
            series = sorted(
                (p.num_views, p.median_s * 1e3)
                for p in main_grid
                if p.loss == loss and p.batch == batch
            )
            if series:
                ax.plot(*zip(*series, strict=True), styles[loss], label=loss.replace("_", " "))
        ax.set_yscale("log")
        ax.set_xlabel("views V")
        ax.set_ylabel("forward+backward (ms)")
        ax.set_title(f"N = {batch}, D = {plan.dim}, 1 thread")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    ratio_ax = axes[-1]
    for batch in plan.batches:
        series = []
        for num_views in plan.views:
            ac = _find(main_grid, loss="adjusted_center", num_views=num_views, batch=batch)
            fg = _find(main_grid, loss="full_graph", num_views=num_views, batch=batch)
            if ac and fg:
                series.append((num_views, fg.median_s / ac.median_s))
        if series:
            ratio_ax.plot(*zip(*series, strict=True), "o-", label=f"N = {batch}")
    ratio_ax.plot(plan.views, [(v - 1) / 2 for v in plan.views], "k--", label="(V-1)/2")
    ratio_ax.set_xlabel("views V")
    ratio_ax.set_ylabel("full graph / adjusted center")
    ratio_ax.set_title("time ratio")
    ratio_ax.grid(True, alpha=0.3)
    ratio_ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, Plan]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grid, short timing (<60 s)")
    parser.add_argument("--views", type=int, nargs="+", help="V values (default 2 3 5 9 15 30)")
    parser.add_argument("--batches", type=int, nargs="+", help="N values (default 16 64 256)")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument(
        "--missing", type=float, default=0.3, help="missing fraction of the extra row"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    default_views = (2, 5, 15) if args.quick else (2, 3, 5, 9, 15, 30)
    default_batches = (16, 256) if args.quick else (16, 64, 256)
    views = tuple(args.views or default_views)
    batches = tuple(args.batches or default_batches)
    if min(views) < 2 or min(batches) < 2:
        parser.error(f"need V >= 2 and N >= 2 (contrastive pairs); got V={views}, N={batches}")
    if not 0.0 <= args.missing < 1.0:
        parser.error(f"--missing must be in [0, 1), got {args.missing}")
    plan = Plan(
        views=views,
        batches=batches,
        dim=args.dim,
        warmup=1 if args.quick else 2,
        min_repeats=3 if args.quick else 7,
        min_seconds=0.1 if args.quick else 1.0,
        missing_fraction=args.missing,
        seed=args.seed,
    )
    return args, plan


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print the tables and the target verdict, save JSON and plot."""
    args, plan = parse_args(argv)
    env = environment()
    threads_before = torch.get_num_threads()
    points: list[LossPoint] = []
    try:
        for batch in plan.batches:
            for num_views in plan.views:
                for loss in LOSSES:
                    points.append(measure(loss, num_views, batch, 1, 0.0, plan))
        # Extra rows at the target point (or the largest measured one).
        extra_views = TARGET_VIEWS if TARGET_VIEWS in plan.views else max(plan.views)
        extra_batch = TARGET_BATCH if TARGET_BATCH in plan.batches else max(plan.batches)
        for loss in LOSSES:
            points.append(measure(loss, extra_views, extra_batch, 1, plan.missing_fraction, plan))
        for loss in LOSSES:
            points.append(measure(loss, extra_views, extra_batch, 2, 0.0, plan))
    finally:
        torch.set_num_threads(threads_before)
    load_after = load_average()
    target = target_check(points)

    cpu = env["cpu"]
    name = "loss_scaling_quick" if args.quick else "loss_scaling"
    lines = [
        f"### Contrastive loss forward+backward time{' (quick)' if args.quick else ''}",
        "",
        f"CPU: {cpu['model_name']} ({cpu['logical_cpus']} logical CPUs), torch "
        f"{env['versions']['torch']}; D = {plan.dim}, temperature {TEMPERATURE}, "
        f"median of >= {plan.min_repeats} repeats after {plan.warmup} warm-up; "
        f"load average before {format_load(env['load_average'])}, after "
        f"{format_load(load_after)}.",
        "",
        scaling_table(points, plan),
        "",
        missing_table(points),
        "",
        threads_table(points),
        "",
    ]
    if target["measured"]:
        verdict = "PASS" if target["passed"] else "FAIL"
        lines.append(
            f"Target (V = {TARGET_VIEWS}, N = {TARGET_BATCH}, adjusted center >= "
            f"{TARGET_SPEEDUP:g}x faster than full graph): {verdict}, "
            f"{target['speedup']:.2f}x"
        )
    else:
        lines.append(f"Target (V = {TARGET_VIEWS}, N = {TARGET_BATCH}): not measured in this run")
    report = "\n".join(lines)
    print(report)
    payload = {
        "benchmark": "loss_scaling",
        "quick": args.quick,
        "environment": env,
        "load_average_after": load_after,
        "plan": asdict(plan),
        "baseline": BASELINE,
        "target": target,
        "points": [asdict(p) for p in points],
    }
    json_path, png_path = save_results(args.out_dir, name, payload, plot(points, plan), report)
    print(f"\nsaved {json_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
