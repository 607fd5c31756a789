"""Re-export a bundle's fusion + MoE head with the current model code, from its own weights.

For a change in how the head is written down, not in what it computes (the expert layers'
matrix products replaced einsum: BENCHMARKS.md section 20): the head's ONNX file holds every
weight inference uses, so no checkpoint is needed. The new file must give the old one's
probabilities on every view subset, or nothing is written.

Run: `python -m training.reexport_head service/default_bundle`.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

from model.export import HeadForExport
from model.fusion import AttentionFusion
from model.moe import SparseMoEHead
from ralis.bundle import (
    HEAD_INPUTS,
    HEAD_OUTPUTS,
    load_manifest,
    sha256_of,
    write_manifest,
)
from training.export import export_onnx, view_subset_masks

log = logging.getLogger(__name__)

# The largest probability difference accepted between the old and the new head: float32
# rounding of sums taken in another order, far below any decision.
PARITY_TOLERANCE = 1e-5


@dataclass(frozen=True)
class HeadParity:
    max_probability_diff: float
    argmax_agreement: float
    subsets: int
    rows: int


def head_from_onnx(head_file: onnx.ModelProto) -> HeadForExport:
    """The fusion + MoE head whose weights `head_file` holds (the graph `HeadForExport` exports).

    The fusion scorer's two weight matrices are found as the graph's first two matrix
    products with a constant right-hand side (torch's exporter names them anew); the other
    weights keep their parameter names.
    """
    graph = head_file.graph
    weights = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    expected = {"head.experts.w1", "head.experts.w2", "head.w_gate", "fusion.score_bias"}
    if not expected <= weights.keys():
        raise ValueError(
            "not a learned-attention fusion with a mixture-of-experts head (no "
            f"{', '.join(sorted(expected - weights.keys()))}); only that head is re-exported"
        )
    products = [
        weights[node.input[1]]
        for node in graph.node
        if node.op_type == "MatMul" and node.input[1] in weights and node.input[1] != "head.w_gate"
    ]
    if len(products) != 2:
        raise ValueError(
            f"expected the fusion scorer's 2 matrix products, found {len(products)}; "
            "only a learned-attention fusion with a mixture-of-experts head is re-exported"
        )
    scorer_in, scorer_out = products  # (D, hidden), (hidden, 1)
    top_k = next(
        int(weights[node.input[1]].item()) for node in graph.node if node.op_type == "TopK"
    )
    experts, embed_dim, hidden = weights["head.experts.w1"].shape
    num_classes = weights["head.experts.w2"].shape[2]
    num_views = weights["fusion.score_bias"].shape[0]
    fusion = AttentionFusion(embed_dim, scorer_in.shape[1], num_views)
    head = SparseMoEHead(embed_dim, num_classes, experts, top_k, hidden)

    def tensor(array: npt.NDArray[np.float32]) -> torch.Tensor:
        return torch.from_numpy(np.array(array, dtype=np.float32))  # a writable copy

    fusion.load_state_dict(
        {
            "scorer.0.weight": tensor(scorer_in.T),
            "scorer.0.bias": tensor(weights["fusion.scorer.0.bias"]),
            "scorer.2.weight": tensor(scorer_out.T),
            "score_bias": tensor(weights["fusion.score_bias"]),
        }
    )
    head.load_state_dict(
        {
            "w_gate": tensor(weights["head.w_gate"]),
            "w_noise": torch.zeros(embed_dim, experts),  # training only; not in the graph
            **{
                f"experts.{k}": tensor(weights[f"head.experts.{k}"])
                for k in ("w1", "b1", "w2", "b2")
            },
        }
    )
    return HeadForExport(fusion, head).eval()


def compare_heads(old: Path, new: Path, rows: int = 256, seed: int = 0) -> HeadParity:
    """Both heads' probabilities on the same embeddings (on the MagNorm sphere, as the
    encoders give them) under every non-empty view subset."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sessions = [
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for path in (old, new)
    ]
    _, num_views, embed_dim = sessions[0].get_inputs()[0].shape
    z = np.random.default_rng(seed).standard_normal((rows, num_views, embed_dim))
    z *= np.sqrt(embed_dim) / np.linalg.norm(z, axis=-1, keepdims=True)
    embeddings = z.astype(np.float32)
    max_diff, agree, subsets = 0.0, 0, 0
    for mask in view_subset_masks(rows, num_views):
        feeds = {HEAD_INPUTS[0]: embeddings, HEAD_INPUTS[1]: mask}
        before, after = (s.run([HEAD_OUTPUTS[0]], feeds)[0] for s in sessions)
        max_diff = max(max_diff, float(np.abs(before - after).max()))
        agree += int((before.argmax(-1) == after.argmax(-1)).sum())
        subsets += 1
    return HeadParity(max_diff, agree / (subsets * rows), subsets, rows)


def written_with_einsum(head_file: onnx.ModelProto) -> bool:
    """Whether a head file still holds the einsum expert layers (exported before 2026-12-03)."""
    return any(node.op_type == "Einsum" for node in head_file.graph.node)


def reexport_head(bundle_dir: Path) -> HeadParity | None:
    """Replace the bundle's head file by a re-export and update its SHA-256 in the manifest;
    None when the head has no einsum left (already re-exported: nothing to do).

    Raises:
        ValueError: not a mixture-of-experts head, or the re-exported head does not
            reproduce the old one (nothing written then).
    """
    manifest = load_manifest(bundle_dir)  # refuses a bundle whose files do not match it
    old = bundle_dir / manifest.head_file
    head_file = onnx.load(str(old))
    if not written_with_einsum(head_file):
        return None
    try:
        module = head_from_onnx(head_file)
    except ValueError as error:
        raise ValueError(f"{old}: {error}") from None
    num_views, embed_dim = len(manifest.views), manifest.embedding_dim
    with tempfile.TemporaryDirectory() as scratch:
        new = Path(scratch) / manifest.head_file
        example = (torch.randn(2, num_views, embed_dim), torch.ones(2, num_views, dtype=torch.bool))
        export_onnx(module, example, new, list(HEAD_INPUTS), list(HEAD_OUTPUTS))
        parity = compare_heads(old, new)
        if parity.max_probability_diff > PARITY_TOLERANCE or parity.argmax_agreement < 1.0:
            raise ValueError(f"the re-exported head differs from {old}: {parity}")
        staged = old.with_name(f".{old.name}.partial")  # replaced whole, never half written
        shutil.copyfile(new, staged)
        os.replace(staged, old)
    manifest.sha256[manifest.head_file] = sha256_of(old)
    write_manifest(bundle_dir, manifest)
    return parity


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path, help="bundle folder (manifest.json, head.onnx)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        parity = reexport_head(args.bundle)
    except (OSError, ValueError) as error:  # BundleError is a ValueError
        log.error("nothing written: %s", error)
        return 1
    if parity is None:
        log.info("%s has no einsum left: nothing to do", args.bundle / "head.onnx")
        return 0
    log.info(
        f"re-exported {args.bundle / 'head.onnx'}: largest probability difference "
        f"{parity.max_probability_diff:.2e}, argmax agreement {parity.argmax_agreement:.4f} "
        f"over {parity.subsets} view subsets x {parity.rows} embeddings"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
