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
    # Majority vote over each trial's windows (datasets that know their trials).
    trial_macro_f1: float | None = None
    num_trials: int | None = None


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
    # Scenario means of trial-level (majority vote) macro-F1; empty without trial ids.
    scenarios_trial: dict[str, float] = field(default_factory=dict)
    per_class_f1_all_views: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "scenarios": self.scenarios,
            "scenarios_trial": self.scenarios_trial,
            "combinations": {
                k: [vars(r) | {"views": list(r.views)} for r in results]
                for k, results in self.combinations.items()
            },
            "confusion_all_views": self.confusion_all_views.tolist(),
            "per_class_f1_all_views": self.per_class_f1_all_views,
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


def view_combinations(
    num_views: int, size: int, max_combinations: int | None, seed: int = 0
) -> list[tuple[int, ...]]:
    """Every combination of `size` views, or a fixed random sample of `max_combinations`."""
    total = math.comb(num_views, size)
    if max_combinations is None or total <= max_combinations:
        return list(itertools.combinations(range(num_views), size))
    rng = np.random.default_rng(seed)
    chosen: set[tuple[int, ...]] = set()
    while len(chosen) < max_combinations:
        chosen.add(tuple(sorted(rng.choice(num_views, size=size, replace=False).tolist())))
    return sorted(chosen)


def per_class_f1(
    y_true: npt.NDArray[np.integer], y_pred: npt.NDArray[np.integer], num_classes: int
) -> list[float]:
    """F1 of every class (0 where a class is neither present nor predicted)."""
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(matrix).astype(np.float64)
    denominator = matrix.sum(axis=1) + matrix.sum(axis=0)
    f1: list[float] = (2 * tp / np.maximum(denominator, 1)).tolist()
    return f1


def trial_votes(
    trial: npt.NDArray[np.integer],
    y_true: npt.NDArray[np.integer],
    y_pred: npt.NDArray[np.integer],
    num_classes: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per trial: its label and the majority vote of its windows (ties: lowest class index)."""
    trials, inverse = np.unique(trial, return_inverse=True)
    votes = np.zeros((len(trials), num_classes), dtype=np.int64)
    np.add.at(votes, (inverse, y_pred), 1)
    labels = np.zeros(len(trials), dtype=np.int64)
    labels[inverse] = y_true
    return labels, votes.argmax(axis=1)


def evaluate(
    model: RalisModel, data: MultiViewDataset, max_combinations: int | None = None
) -> EvaluationReport:
    """Mean macro-F1 over every combination of k views for each scenario size.

    A sample counts with whichever of the chosen views it has (upper bound under drop
    protocols); samples with none of them are left out of that combination. With
    `max_combinations`, a scenario with more combinations uses a fixed random sample.
    When `data.trial` is set, each combination is also scored per trial (majority vote).
    """
    labelled = data.subset(data.y >= 0)
    z = embed_views(model, labelled)
    available = torch.from_numpy(labelled.mask)
    names = labelled.view_names
    num_classes = len(labelled.class_names)
    scenarios: dict[str, float] = {}
    scenarios_trial: dict[str, float] = {}
    combinations: dict[str, list[ViewSetResult]] = {}
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    class_f1: list[float] = []
    weights_per_class = np.zeros((num_classes, len(names)), dtype=np.float32)
    for label, size in scenario_sizes(len(names)).items():
        results = []
        for combo in view_combinations(len(names), size, max_combinations):
            chosen = torch.zeros(len(names), dtype=torch.bool)
            chosen[list(combo)] = True
            mask = available & chosen
            keep = mask.any(dim=1)
            y_true = labelled.y[keep.numpy()]
            y_pred, w = predict_from_embeddings(model, z[keep], mask[keep])
            result = ViewSetResult(
                tuple(names[i] for i in combo),
                macro_f1(y_true, y_pred, num_classes),
                accuracy(y_true, y_pred),
                int(keep.sum()),
            )
            if labelled.trial is not None:
                trial_true, trial_pred = trial_votes(
                    labelled.trial[keep.numpy()], y_true, y_pred, num_classes
                )
                result.trial_macro_f1 = macro_f1(trial_true, trial_pred, num_classes)
                result.num_trials = len(trial_true)
            results.append(result)
            if size == len(names):
                confusion = confusion_matrix(y_true, y_pred, num_classes)
                class_f1 = per_class_f1(y_true, y_pred, num_classes)
                for k in range(num_classes):
                    rows = y_true == k
                    if rows.any():
                        present = mask[keep].numpy()[rows]
                        sums = (w[rows] * present).sum(0)
                        weights_per_class[k] = sums / np.maximum(present.sum(0), 1)
        combinations[label] = results
        scenarios[label] = float(np.mean([r.macro_f1 for r in results]))
        if labelled.trial is not None:
            scenarios_trial[label] = float(np.mean([r.trial_macro_f1 for r in results]))
    return EvaluationReport(
        scenarios,
        combinations,
        confusion,
        weights_per_class,
        labelled.class_names,
        names,
        scenarios_trial=scenarios_trial,
        per_class_f1_all_views=class_f1,
    )


@dataclass
class ValidationScores:
    """What the training loop tracks per epoch on the validation split."""

    all_views_f1: float
    scenarios: dict[str, float]  # scenario -> mean macro-F1 over (sampled) combinations
    weights_per_class: npt.NDArray[np.float32]  # (K, V)

    @property
    def scenario_mean(self) -> float:
        """Mean over the 1 / half / all-views scenarios: robust to any one view set."""
        return float(np.mean(list(self.scenarios.values())))


def validation_scores(
    model: RalisModel, data: MultiViewDataset, max_combinations: int = 8
) -> ValidationScores:
    """All-views macro-F1, scenario macro-F1s (sampled combinations) and view weights."""
    labelled = data.subset(data.y >= 0)
    z = embed_views(model, labelled)
    available = torch.from_numpy(labelled.mask)
    num_classes, num_views = len(labelled.class_names), labelled.num_views
    scenarios: dict[str, float] = {}
    for label, size in scenario_sizes(num_views).items():
        scores = []
        for combo in view_combinations(num_views, size, max_combinations):
            chosen = torch.zeros(num_views, dtype=torch.bool)
            chosen[list(combo)] = True
            mask = available & chosen
            keep = mask.any(dim=1)
            y_pred, _ = predict_from_embeddings(model, z[keep], mask[keep])
            scores.append(macro_f1(labelled.y[keep.numpy()], y_pred, num_classes))
        scenarios[label] = float(np.mean(scores))
    y_pred, w = predict_from_embeddings(model, z, available)
    per_class = np.zeros((num_classes, num_views), dtype=np.float32)
    for k in range(num_classes):
        rows = labelled.y == k
        if rows.any():
            per_class[k] = w[rows].sum(0) / np.maximum(labelled.mask[rows].sum(0), 1)
    return ValidationScores(macro_f1(labelled.y, y_pred, num_classes), scenarios, per_class)


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
