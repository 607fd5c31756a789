"""Checkpoints: weights plus everything needed to rebuild, evaluate and export the model."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from model import RalisConfig, RalisModel
from training.config import TrainConfig
from training.data.dataset import ViewInfo
from training.data.normalize import Normalizer


@dataclass
class Checkpoint:
    """A trained model with its normalisation, names and training configuration."""

    model: RalisModel
    normalizer: Normalizer
    views: list[ViewInfo]
    class_names: list[str]
    train_config: TrainConfig
    epoch: int
    val_macro_f1: float
    # Samples per window of each view, as trained (views may differ in rate and length).
    window_samples: dict[str, int] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "format": "ralis-checkpoint-1",
                "model_state": self.model.state_dict(),
                "model_config": self.model.config.to_dict(),
                "normalizer": self.normalizer.to_dict(),
                "views": [v.to_dict() for v in self.views],
                "class_names": self.class_names,
                "train_config": self.train_config.to_dict(),
                "epoch": self.epoch,
                "val_macro_f1": self.val_macro_f1,
                "window_samples": self.window_samples,
            },
            path,
        )

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        try:
            state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for broken files
            raise ValueError(f"{path}: not a readable RALIS checkpoint ({exc})") from exc
        if state.get("format") != "ralis-checkpoint-1":
            raise ValueError(f"{path}: unknown checkpoint format {state.get('format')!r}")
        model = RalisModel(RalisConfig.from_dict(state["model_config"]))
        model.load_state_dict(state["model_state"])
        model.eval()
        views = [ViewInfo.from_dict(v) for v in state["views"]]
        return cls(
            model=model,
            normalizer=Normalizer.from_dict(state["normalizer"]),
            views=views,
            class_names=list(state["class_names"]),
            train_config=TrainConfig.from_dict(state["train_config"]),
            epoch=int(state["epoch"]),
            val_macro_f1=float(state["val_macro_f1"]),
            window_samples={k: int(v) for k, v in state.get("window_samples", {}).items()},
        )
