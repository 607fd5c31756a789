"""The check behind BENCHMARKS.md section 15: the default bundle's encoders quantised with every
layer int8, or with the layers reading the raw window kept float; test macro-F1 on p6-p8 (4 s
windows, float head) and how far the int8 embeddings turn from the float ones.

    python bench/results/precision_2026-12-02/input_layers_check.py MinMax 100000 all
    python bench/results/precision_2026-12-02/input_layers_check.py MinMax 100000 Conv,Gemm \
        node_Conv_181,node_Conv_185

Arguments: calibration method, calibration windows, op types ("all": onnxruntime's default),
nodes kept float. Run from the repository root with the dev venv; scratch files go to a
temporary folder.
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from training.data.dataset import MultiViewDataset
from training.data.dsads import load_dsads
from training.metrics import macro_f1

DATA = "../shared/datasets/dsads/daily_sports_activities.zip"
BUNDLE = Path("service/default_bundle")


def normalised(data: MultiViewDataset, view: dict[str, Any]) -> npt.NDArray[np.float32]:
    x = (data.x[view["name"]] - np.array(view["norm_mean"])) / np.array(view["norm_std"])
    return np.ascontiguousarray(x.transpose(0, 2, 1), dtype=np.float32)


class Batches(CalibrationDataReader):  # type: ignore[misc]
    def __init__(self, x: npt.NDArray[np.float32]) -> None:
        self.batches = iter([{"window": x[i : i + 64]} for i in range(0, len(x), 64)])

    def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
        return next(self.batches, None)


def main() -> None:
    method, windows = sys.argv[1], int(sys.argv[2])
    ops = None if sys.argv[3] == "all" else sys.argv[3].split(",")
    kept_float = sys.argv[4].split(",") if len(sys.argv) > 4 else []
    manifest = json.loads((BUNDLE / "manifest.json").read_text())
    views = manifest["views"]
    train = load_dsads(DATA, window_seconds=4.0, subjects=[1, 2, 3, 4])
    test = load_dsads(DATA, window_seconds=4.0, subjects=[6, 7, 8])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2

    def session(path: Path) -> ort.InferenceSession:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    head = session(BUNDLE / "head.onnx")

    def scenarios(embeddings: npt.NDArray[np.float32]) -> dict[int, float]:
        scores = {}
        for size in (1, 3, 5):
            f1 = []
            for subset in itertools.combinations(range(5), size):
                mask = np.zeros((len(test.y), 5), bool)
                mask[:, list(subset)] = True
                feeds = {"embeddings": embeddings, "view_mask": mask}
                predicted = head.run(["probabilities"], feeds)[0].argmax(1)
                f1.append(macro_f1(test.y, predicted, 19))
            scores[size] = round(100 * float(np.mean(f1)), 2)
        return scores

    def embed(files: list[Path]) -> npt.NDArray[np.float32]:
        return np.stack(
            [
                session(f).run(None, {"window": normalised(test, v)})[0]
                for f, v in zip(files, views, strict=True)
            ],
            axis=1,
        )

    reference = embed([BUNDLE / v["encoder_file"] for v in views])
    print("fp32", scenarios(reference))
    with tempfile.TemporaryDirectory() as scratch:
        quantised = []
        for view in views:
            prepared = Path(scratch) / f"pre_{view['name']}.onnx"
            target = Path(scratch) / f"q_{view['name']}.onnx"
            quant_pre_process(
                str(BUNDLE / view["encoder_file"]), str(prepared), skip_symbolic_shape=True
            )
            x = normalised(train, view)
            x = x[np.random.default_rng(0).choice(len(x), min(windows, len(x)), replace=False)]
            quantize_static(
                str(prepared),
                str(target),
                Batches(x),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=getattr(CalibrationMethod, method),
                op_types_to_quantize=ops,
                nodes_to_exclude=kept_float,
            )
            quantised.append(target)
        int8 = embed(quantised)
    cosine = (reference * int8).sum(-1) / np.linalg.norm(reference, axis=-1)
    cosine /= np.linalg.norm(int8, axis=-1)
    print(method, windows, ops, kept_float, scenarios(int8))
    print(f"cosine to float: min {cosine.min():.3f}, 1st percentile {np.percentile(cosine, 1):.3f}")


if __name__ == "__main__":
    main()
