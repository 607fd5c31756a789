"""The full training configuration, stored inside every checkpoint."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from model import RalisConfig
from training.data.dsads import ViewSet
from training.data.protocols import DropUnit, Protocol
from training.data.splits import DSADS_DEFAULT_SPLIT

# The released DSADS zip where this repository's machines keep it (../shared/datasets/).
DEFAULT_DSADS = "../shared/datasets/dsads/daily_sports_activities.zip"


# Fields added with a default that changed behaviour: a saved configuration without one ran
# the way the code did before it existed, not the way the default now does.
ABSENT_FIELD_MEANT: dict[str, Any] = {
    "view_prior": False,
    "contrastive_batch_size": None,
    "train_drop_unit": "window",
}

# The same for the architecture: before 2026-12-02 a configuration stored only the RalisConfig
# fields it overrode, and the encoder kernel's default was 5. Configurations made since store
# every architecture field (`TrainConfig.model`), so only those older ones are ever filled in.
ABSENT_MODEL_FIELD_MEANT: dict[str, Any] = {"kernel_size": 5}


def as_it_ran(saved: dict[str, Any]) -> dict[str, Any]:
    """A saved configuration with the fields it predates filled in as they behaved then."""
    filled = ABSENT_FIELD_MEANT | saved
    filled["model"] = ABSENT_MODEL_FIELD_MEANT | dict(saved.get("model", {}))
    return filled


def architecture_defaults() -> dict[str, Any]:
    """RalisConfig's fields at their defaults, but those the data gives (views, classes)."""
    return {
        f.name: f.default for f in fields(RalisConfig) if f.name not in ("views", "num_classes")
    }


@dataclass(frozen=True)
class TrainConfig:
    """Data, protocol, optimisation and loss weights.

    Architecture and loss weights follow the paper; the optimisation recipe (steps,
    schedule, weight decay, early stopping, selection) is ours, since the paper leaves it
    open. `paper_recipe()` gives the paper's plain 20 epochs of Adam.
    """

    data: str
    view_set: ViewSet = "acc"
    window_seconds: float = 5.0
    # Hop between training windows; None = no overlap. Evaluation never overlaps.
    train_hop_seconds: float | None = None
    # Where the protocol drops training views: per window (the paper's unit) or per
    # recording segment (honest with overlapping windows; training/data/protocols.py).
    # Validation and test windows never overlap and are always dropped per window.
    train_drop_unit: DropUnit = "window"
    train_subjects: tuple[int, ...] = DSADS_DEFAULT_SPLIT["train"]
    val_subjects: tuple[int, ...] = DSADS_DEFAULT_SPLIT["val"]
    test_subjects: tuple[int, ...] = DSADS_DEFAULT_SPLIT["test"]
    # DSADS activity numbers 1..19 to load; None = all (a subset suits small test archives).
    activities: tuple[int, ...] | None = None
    protocol: Protocol = "complete"
    # Protocol applied to validation/test data too (the paper drops views everywhere).
    eval_protocol: Protocol | None = None
    # --- optimisation: a recipe that converges whatever the dataset size -----------------
    # Training runs max(epochs, ceil(min_steps / steps per epoch)) epochs, so a small
    # dataset still gets enough optimiser steps; early stopping may end it sooner. 40 / 8,000
    # since 2026-12-03 (20 / 4,000 before): on DSADS Table 6 (views missing) 40 epochs gained
    # +3.4 / +2.9 / +3.1 points at 1 / 3 / 5 views on all 3 seeds, and changed Table 3
    # (complete data) by +0.4 / +0.1 / +0.3 (results/dsads/tables_epochs40/).
    epochs: int = 40
    min_steps: int = 8000
    batch_size: int = 16
    lr: float = 1e-3
    # "warmup_cosine": linear warm-up over warmup_fraction of the planned steps, then cosine
    # to 0, per step. "cosine": cosine per step without warm-up. "constant": the paper's.
    lr_schedule: Literal["constant", "cosine", "warmup_cosine"] = "warmup_cosine"
    warmup_fraction: float = 0.05
    optimizer: Literal["adam", "adamw"] = "adamw"
    weight_decay: float = 0.01  # decoupled (AdamW); with "adam" it is an L2 term
    # Early stopping on the smoothed selection metric: stop after `patience` epochs (at
    # least patience_fraction of the planned epochs) without improvement.
    patience: int = 10
    patience_fraction: float = 0.25
    # Selection metric, smoothed by a trailing mean over `smoothing` epochs:
    # "val_scenarios" = mean validation macro-F1 over the 1 / half / all-views scenarios;
    # "val_f1" = all-views validation macro-F1; "last" = the final epoch.
    select_on: Literal["val_scenarios", "val_f1", "last"] = "val_scenarios"
    smoothing: int = 3
    # Evaluate and keep an exponential moving average of the weights (decay per optimiser
    # step, torch.optim.swa_utils) instead of the raw weights; None = off. Meant to damp the
    # epoch-to-epoch swings of validation F1.
    weight_ema: float | None = None
    # With weight_ema: the decay of the k-th update is min(weight_ema, (1 + k) / (10 + k)),
    # so early weights fade fast; without, a short run still carries its first steps at the
    # end (Berkeley MHAD's 3,400 steps with 0.999: results/berkeley_mhad/README.md).
    weight_ema_warmup: bool = False
    # View combinations sampled per validation scenario each epoch (all when fewer).
    val_combinations: int = 8
    cls_weight: float = 1.0
    # Weigh each class's classification terms by N / (K * n_k) over the training windows:
    # long recordings (many windows) must not outvote short ones. All 1 on balanced data.
    class_balance: bool = True
    # The balancing weights raised to this power and rescaled to a mean of 1 per training
    # window: 1 = fully balanced; 0.5 = the square root, a softer balance for classes that
    # overlap (Berkeley MHAD's "sit down then stand up" holds "sit down" and "stand up").
    class_balance_power: float = 1.0
    contrastive_weight: float = 1.0
    # None: each step's one batch feeds every loss term. N: the contrastive loss gets its own
    # batch of N windows, drawn independently (the paper's Table 2 lists a classification
    # and a contrastive batch size); costs a second forward pass per step. 16 gained on all
    # 3 DSADS seeds (+1.1 at 5 views; results/dsads/recipe/README.md). None before 2026-12-02.
    contrastive_batch_size: int | None = 16
    balance_weight: float = 0.01
    # Scaling, time warping and small sensor rotations (training/data/augment.py). On by
    # default: on DSADS it lifted 1-view test macro-F1 from 68.8 to 75.6 (seed 0).
    augment: bool = True
    # Subset of {"rotate", "scale", "flip", "time_warp"}; None = every transform that suits
    # each view's modality. Default: all but per-channel scaling, which on DSADS (seed 0)
    # erased the standing / standing-in-an-elevator cue (elevator F1 30.8 with it, 56.8
    # without; 5-view macro-F1 87.67 -> 89.59): results/dsads/recipe/augment.md.
    augment_transforms: tuple[str, ...] | None = ("rotate", "flip", "time_warp")
    # Each present view window is augmented with this probability, else left as recorded,
    # so the model also sees the clean signal (on DSADS no augmentation at all scored best
    # on standing vs standing in an elevator: results/dsads/recipe/augment.md).
    augment_probability: float = 1.0
    # Bound on the inertial rotations (degrees, about a random axis): rotations are the
    # transform that helps most on DSADS, yet they too cost the standing-in-an-elevator cue
    # (results/dsads/recipe/augment.md). 15 instead of 30 lost 0.8 points at 5 views on
    # DSADS Table 3 (2 seeds, both down; results/dsads/tables_rotate15).
    augment_max_rotation_deg: float = 30.0
    # Each training window shows the model, with this probability, only a random non-empty
    # subset of its present views (training/data/view_subsets.py), so that the fusion also
    # learns the subsets it is tested on. 0 = off (draws nothing). A RALIS option, not in
    # the paper.
    view_subset_probability: float = 0.0
    # After training with views missing, bias the fusion's attention toward the view that
    # scores best alone on validation (training/view_prior.py; complete-data models are left
    # alone). A RALIS extension, not in the paper. On by default since the held-out Table 5
    # runs bore the rule out: of 24, 18 gains (+0.27 to +2.40 at 5 views), 2 losses (-0.28,
    # -0.42), 4 no-ops (results/dsads/tables/view_prior_gate.md). The paper tables turn it off.
    view_prior: bool = True
    # Views of one modality and channel count share one encoder (the paper allows it for
    # homogeneous views): DSADS's five accelerometers then train one encoder on five times
    # the windows. Off: each view has its own. On DSADS Table 3 sharing lost 3.0 points at 5
    # views and 6.3 at 1 (2 seeds, both down; results/dsads/tables_shared_encoder).
    share_encoders: bool = False
    seed: int = 0
    num_threads: int = 1
    # RalisConfig's architecture fields (kernel, widths, ablation switches). Give only those
    # to change; the rest are filled in from RalisConfig's defaults, so that a saved
    # configuration still says what was trained after a default changes.
    model: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.model) - set(architecture_defaults())
        if unknown:
            raise ValueError(f"unknown architecture fields in model: {sorted(unknown)}")
        object.__setattr__(self, "model", architecture_defaults() | self.model)
        if not 0.0 <= self.class_balance_power <= 1.0:
            raise ValueError("class_balance_power must lie in [0, 1]")
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("epochs must be >= 1 and batch_size >= 2 (contrastive negatives)")
        if self.min_steps < 0 or self.patience < 1 or self.smoothing < 1:
            raise ValueError("min_steps must be >= 0, patience and smoothing >= 1")
        if self.contrastive_batch_size is not None and self.contrastive_batch_size < 2:
            raise ValueError("contrastive_batch_size must be >= 2 (negatives) or None")
        if self.weight_ema is not None and not 0.0 < self.weight_ema < 1.0:
            raise ValueError(f"weight_ema must lie in (0, 1) or be None, got {self.weight_ema}")
        if not 0.0 <= self.augment_probability <= 1.0:
            raise ValueError(
                f"augment_probability must lie in [0, 1], got {self.augment_probability}"
            )
        if not 0.0 <= self.augment_max_rotation_deg <= 180.0:
            raise ValueError(
                "augment_max_rotation_deg must lie in [0, 180], "
                f"got {self.augment_max_rotation_deg}"
            )
        if not 0.0 <= self.view_subset_probability <= 1.0:
            raise ValueError(
                f"view_subset_probability must lie in [0, 1], got {self.view_subset_probability}"
            )
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        tested = set(self.train_subjects) & set(self.test_subjects)
        if tested:
            raise ValueError(f"subjects {sorted(tested)} are in the training and test splits")
        if self.validation_is_trained_on:
            # Validation then only draws the learning curves: it must not choose anything.
            if self.select_on != "last":
                raise ValueError(
                    f"subjects {sorted(set(self.train_subjects) & set(self.val_subjects))} are "
                    "in the training and validation splits; that is allowed only with "
                    "select_on='last' (--select-on last: the final epoch is kept and "
                    "validation is a monitor), so that validation chooses nothing"
                )
            if self.view_prior:
                raise ValueError(
                    "the view prior is chosen on validation, which here holds training "
                    "subjects; turn it off (--no-view-prior)"
                )

    @property
    def validation_is_trained_on(self) -> bool:
        """Validation subjects are also trained on (a final model on all but the test
        subjects): validation is then a monitor only."""
        return bool(set(self.train_subjects) & set(self.val_subjects))

    @property
    def resolved_eval_protocol(self) -> Protocol:
        return self.eval_protocol or self.protocol

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json_dict(self) -> dict[str, Any]:
        """`to_dict` as it reads back from JSON (tuples become lists)."""
        return dict(json.loads(json.dumps(self.to_dict())))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """A saved configuration (`to_dict`), older ones included (`as_it_ran`)."""
        fields = as_it_ran(data)
        for key in ("train_subjects", "val_subjects", "test_subjects"):
            fields[key] = tuple(fields[key])
        for key in ("activities", "augment_transforms"):
            if fields.get(key) is not None:
                fields[key] = tuple(fields[key])
        model = dict(fields.get("model", {}))
        if "encoder_widths" in model:
            model["encoder_widths"] = tuple(model["encoder_widths"])
        fields["model"] = model
        return cls(**fields)


# Overrides that turn the default recipe back into the paper's literal optimisation settings.
PAPER_RECIPE: dict[str, Any] = {
    "epochs": 20,
    "min_steps": 0,
    "lr_schedule": "constant",
    "optimizer": "adam",
    "weight_decay": 0.0,
    "patience": 10_000,
    "select_on": "val_f1",
    "smoothing": 1,
}
