"""A bundle's model card, written from the checkpoint's own configuration and measurements.

Nothing here is a template fact: sensors, windows, overlap, protocol, augmentation, recipe
and subset counts all come from the checkpoint; scores from its `evaluation.json`; parity
from the exported bundle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from model import RalisConfig
from model.config import ABLATIONS
from training.checkpoint import Checkpoint
from training.config import TrainConfig, architecture_defaults
from training.data.berkeley_mhad import is_berkeley_mhad
from training.export import ParityReport
from training.pipeline import is_npz_source

DATASETS = {
    "dsads": (
        "UCI Daily and Sports Activities (DSADS)",
        "B. Barshan and K. Altun (2010), Daily and Sports Activities, UCI Machine Learning "
        "Repository, https://doi.org/10.24432/C5C59F, CC BY 4.0; K. Altun, B. Barshan, "
        'O. Tunçel, "Comparative study on classifying human activities with miniature inertial '
        'and magnetic sensors", Pattern Recognition 43(10):3605-3620, 2010.',
    ),
    "berkeley_mhad": (
        "Berkeley MHAD (accelerometers and the D-Mocap Kinect skeleton)",
        'F. Ofli et al., "Berkeley MHAD: A Comprehensive Multimodal Human Action Database", '
        'WACV 2013; N. Lannan, L. Zhou, G. Fan, "A Multiview Depth-based Motion Capture '
        'Benchmark Dataset", CVPR Workshops 2022. Research use only.',
    ),
    "npz": ("the trainer's own recordings (.npz)", "as the data's owner states."),
}

PROTOCOLS = {
    "complete": "none: every window had every view during training",
    "uniform": "uniform view dropping: each view dropped with probability 10^(-3/V) per "
    "window (V views), at least one kept",
    "per_view": "per-view dropping at each view's own missing rate",
}


def dataset_kind(config: TrainConfig) -> str:
    """'dsads', 'berkeley_mhad' or 'npz', from the training data's path."""
    if is_berkeley_mhad(config.data):
        return "berkeley_mhad"
    if is_npz_source(config.data):
        return "npz"
    return "dsads"


def _subjects(subjects: tuple[int, ...]) -> str:
    return ", ".join(str(s) for s in subjects)


def _parity_line(label: str, report: ParityReport) -> str:
    return (
        f"- {label} ({report.samples_per_subset} windows x {report.subsets_checked} subsets): "
        f"largest probability difference {report.max_probability_diff:.2e}, argmax agreement "
        f"{report.argmax_agreement * 100:.2f}%"
    )


# The paper's components that Table 5 switches off, at their full-model values.
_ABLATION_SWITCHES = {
    name: architecture_defaults()[name] for ablation in ABLATIONS for name in ablation.overrides
}


def _architecture(model: RalisConfig) -> str:
    """The encoder and head as trained, and any of the paper's components switched off."""
    changed = {
        name: value
        for name, value in asdict(model).items()
        if name in _ABLATION_SWITCHES and value != _ABLATION_SWITCHES[name]
    }
    return (
        f"1D ResNet encoders of widths {'/'.join(map(str, model.encoder_widths))}, kernel "
        f"{model.kernel_size}, embedding {model.embed_dim}; {model.num_experts} experts, top "
        f"{model.top_k}; changed from the paper's model: {changed or 'nothing'}"
    )


def _selection(checkpoint: Checkpoint) -> str:
    """How the kept epoch was chosen, and on which subjects."""
    config = checkpoint.train_config
    kept = f"kept epoch {checkpoint.epoch}, validation macro-F1 {checkpoint.val_macro_f1 * 100:.2f}"
    if config.validation_is_trained_on:
        return (
            f"validation {_subjects(config.val_subjects)} is also trained on, so it only draws "
            f"the learning curves and the final epoch is kept ({kept}, on seen subjects)"
        )
    return (
        f"checkpoint selection {_subjects(config.val_subjects)} (selection metric "
        f"`{config.select_on}`, smoothed over {config.smoothing} epochs; {kept})"
    )


def model_card(
    checkpoint: Checkpoint,
    evaluation: Mapping[str, Any],
    parity: Mapping[str, ParityReport],
    name: str,
) -> str:
    """The card's Markdown. `parity` maps a label (e.g. "real test windows") to its report."""
    config = checkpoint.train_config
    dataset, citation = DATASETS[dataset_kind(config)]
    views = checkpoint.views
    subsets = 2 ** len(views) - 1
    rates = sorted({v.sampling_rate_hz for v in views})
    hop = config.train_hop_seconds or config.window_seconds
    overlap = max(0.0, 1.0 - hop / config.window_seconds) * 100
    if not config.augment:
        augmentation = "none"
    elif config.augment_transforms is None:
        augmentation = "every transform that suits each view's modality (training/data/augment.py)"
    else:
        augmentation = ", ".join(config.augment_transforms)
    view_rows = "\n".join(
        f"| {v.name} | {v.modality} | {len(v.channels)} | {v.sampling_rate_hz:g} |" for v in views
    )
    bias = checkpoint.model.fusion.score_bias.tolist()
    prior = ", ".join(f"+{b:g} on {v.name}" for v, b in zip(views, bias, strict=True) if b)
    contrastive_batch = (
        ""
        if config.contrastive_batch_size is None
        else f" (the contrastive loss on a separate batch of {config.contrastive_batch_size})"
    )
    scenarios = evaluation.get("scenarios", {})
    score_rows = "\n".join(f"| {k} | {float(v) * 100:.2f} |" for k, v in scenarios.items())
    parity_lines = "\n".join(_parity_line(label, report) for label, report in parity.items())
    return f"""# Model card: {name}

## What it does
Recognises {len(checkpoint.class_names)} activities from {config.window_seconds:g}-second
windows of any non-empty subset of {len(views)} views ({subsets} subsets); missing views are
masked, never imputed. Classes: {", ".join(checkpoint.class_names)}.

| view | modality | channels | rate (Hz) |
|---|---|---|---|
{view_rows}

## Data and protocol
- Data: {dataset}, `{config.data}` (view set `{config.view_set}`), windows of
  {config.window_seconds:g} s at {", ".join(f"{r:g}" for r in rates)} Hz, training hop {hop:g} s
  ({overlap:.0f}% overlap); evaluation windows do not overlap.
- Subjects: training {_subjects(config.train_subjects)}; {_selection(checkpoint)}; test
  {_subjects(config.test_subjects)}, never seen.
- Missing views in training: {PROTOCOLS[config.protocol]}.
- Augmentation: {augmentation}.
- Recipe: {config.optimizer}, lr {config.lr:g} ({config.lr_schedule}, warm-up
  {config.warmup_fraction:g}), weight decay {config.weight_decay:g}, batch
  {config.batch_size}{contrastive_batch}, at least {config.epochs} epochs and
  {config.min_steps} steps, early stopping after {config.patience} epochs without
  improvement; loss weights classification
  {config.cls_weight:g} / contrastive {config.contrastive_weight:g} / load balance
  {config.balance_weight:g}; seed {config.seed}.
- Architecture: {_architecture(checkpoint.model.config)}.
- Attention prior (added to the fusion's view scores after training, chosen on validation;
  training/view_prior.py): {prior or "none"}.

## Test macro-F1 (subjects {_subjects(config.test_subjects)})
Each scenario is the mean over every combination of that many views.

| scenario | macro-F1 (%) |
|---|---|
{score_rows}

## ONNX parity (onnxruntime CPU vs PyTorch, every non-empty view subset)
{parity_lines}

## Limitations
Trained on {len(config.train_subjects)} subjects of one dataset with sensors in its fixed
positions and orientations; other placements, rates far from the model's, or other
populations will do worse.

## Licence and attribution
Model weights: this repository's licence. Training data: {citation}
"""
