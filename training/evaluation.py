"""Evaluation over view combinations: "1 view", "half the views", "all views"."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from model import RalisModel
from training.data.dataset import MultiViewDataset
from training.metrics import accuracy, confusion_matrix, macro_f1

_CHUNK = 512


@torch.no_grad()
def embed_views(model: RalisModel, data: MultiViewDataset) -> torch.Tensor:
    """Every present window's embedding `(N, V, D)` (zeros where absent), in eval mode.

    In eval mode each embedding depends only on its own window, so embeddings are computed
    once and reused for every view combination.
    """
    model.eval()
    mask = torch.from_numpy(data.mask)
    out = torch.zeros(len(data), data.num_views, model.config.embed_dim)
    for start in range(0, len(data), _CHUNK):
        rows = slice(start, start + _CHUNK)
        x = {
            name: torch.from_numpy(np.ascontiguousarray(array[rows].transpose(0, 2, 1)))
            for name, array in data.x.items()
        }
        chunk_mask = mask[rows]
        if bool(chunk_mask.any()):
            keep = chunk_mask.any(dim=1)
            z = model.encode({k: v[keep] for k, v in x.items()}, chunk_mask[keep])
            out[rows][keep] = z  # a slice is a view: this writes into `out`
    return out


@torch.no_grad()
def predict_from_embeddings(
    model: RalisModel, z: torch.Tensor, mask: torch.Tensor
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Fused predictions and view weights for samples with at least one view in `mask`."""
    predictions, weights = [], []
    for start in range(0, len(z), _CHUNK):
        fused, w = model.fusion(z[start : start + _CHUNK], mask[start : start + _CHUNK])
        predictions.append(model.head(fused).logits.argmax(-1))
        weights.append(w)
    return torch.cat(predictions).numpy(), torch.cat(weights).numpy()


@dataclass
class ViewSetResult:
    views: tuple[str, ...]
    macro_f1: float
    accuracy: float
    num_samples: int


@dataclass
class EvaluationReport:
    """Scenario means over view combinations plus all-views diagnostics."""

    scenarios: dict[str, float]  # "1 view" / "3 views" / "5 views" -> mean macro-F1
    combinations: dict[str, list[ViewSetResult]]
    confusion_all_views: npt.NDArray[np.int64]
    view_weights_per_class: npt.NDArray[np.float32]  # (K, V) mean weight of present views
    class_names: list[str]
    view_names: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "scenarios": self.scenarios,
            "combinations": {
                k: [vars(r) | {"views": list(r.views)} for r in results]
                for k, results in self.combinations.items()
            },
            "confusion_all_views": self.confusion_all_views.tolist(),
            "view_weights_per_class": self.view_weights_per_class.tolist(),
            "class_names": self.class_names,
            "view_names": self.view_names,
            **self.extra,
        }


def scenario_sizes(num_views: int) -> dict[str, int]:
    """The paper's scenarios: 1 view, ceil(V/2) views, all V views."""
    sizes = {"1 view": 1, f"{math.ceil(num_views / 2)} views": math.ceil(num_views / 2)}
    sizes[f"{num_views} views"] = num_views
    return sizes


def evaluate(model: RalisModel, data: MultiViewDataset) -> EvaluationReport:
    """Mean macro-F1 over every combination of k views for each scenario size.

    A sample counts with whichever of the chosen views it has (upper bound under drop
    protocols); samples with none of them are left out of that combination.
    """
    labelled = data.subset(data.y >= 0)
    z = embed_views(model, labelled)
    available = torch.from_numpy(labelled.mask)
    names = labelled.view_names
    num_classes = len(labelled.class_names)
    scenarios: dict[str, float] = {}
    combinations: dict[str, list[ViewSetResult]] = {}
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    weights_per_class = np.zeros((num_classes, len(names)), dtype=np.float32)
    for label, size in scenario_sizes(len(names)).items():
        results = []
        for combo in itertools.combinations(range(len(names)), size):
            chosen = torch.zeros(len(names), dtype=torch.bool)
            chosen[list(combo)] = True
            mask = available & chosen
            keep = mask.any(dim=1)
            y_true = labelled.y[keep.numpy()]
            y_pred, w = predict_from_embeddings(model, z[keep], mask[keep])
            results.append(
                ViewSetResult(
                    tuple(names[i] for i in combo),
                    macro_f1(y_true, y_pred, num_classes),
                    accuracy(y_true, y_pred),
                    int(keep.sum()),
                )
            )
            if size == len(names):
                confusion = confusion_matrix(y_true, y_pred, num_classes)
                for k in range(num_classes):
                    rows = y_true == k
                    if rows.any():
                        present = mask[keep].numpy()[rows]
                        sums = (w[rows] * present).sum(0)
                        weights_per_class[k] = sums / np.maximum(present.sum(0), 1)
        combinations[label] = results
        scenarios[label] = float(np.mean([r.macro_f1 for r in results]))
    return EvaluationReport(
        scenarios, combinations, confusion, weights_per_class, labelled.class_names, names
    )


def quick_macro_f1(
    model: RalisModel, data: MultiViewDataset
) -> tuple[float, npt.NDArray[np.float32]]:
    """Macro-F1 with every available view, and mean view weights per class `(K, V)`."""
    labelled = data.subset(data.y >= 0)
    z = embed_views(model, labelled)
    mask = torch.from_numpy(labelled.mask)
    y_pred, w = predict_from_embeddings(model, z, mask)
    num_classes = len(labelled.class_names)
    per_class = np.zeros((num_classes, labelled.num_views), dtype=np.float32)
    for k in range(num_classes):
        rows = labelled.y == k
        if rows.any():
            per_class[k] = w[rows].sum(0) / np.maximum(labelled.mask[rows].sum(0), 1)
    return macro_f1(labelled.y, y_pred, num_classes), per_class
