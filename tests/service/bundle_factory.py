"""A tiny but contract-correct model bundle, exported from torch for the service tests."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

import torch
from torch import nn

from ralis.bundle import (
    ENCODER_INPUT,
    ENCODER_OUTPUT,
    HEAD_INPUTS,
    HEAD_OUTPUTS,
    Manifest,
    ViewSpec,
    sha256_of,
    write_manifest,
)
from ralis.client import dsads

VIEWS = dsads.POSITIONS
CLASSES = dsads.ACTIVITIES
RATE_HZ = dsads.RATE_HZ
WINDOW_SAMPLES = 100
EMBEDDING_DIM = 16
OPSET = 17


class TinyEncoder(nn.Module):
    """Conv -> mean over time -> linear -> MagNorm (z / ||z|| * sqrt(D))."""

    def __init__(self, channels: int, dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, 8, kernel_size=5, padding=2)
        self.proj = nn.Linear(8 + channels, dim)

    def forward(self, window: torch.Tensor) -> torch.Tensor:  # (B, C, T) -> (B, D)
        features = torch.cat([torch.tanh(self.conv(window)).mean(-1), window.mean(-1)], dim=-1)
        z = self.proj(features)
        embedding: torch.Tensor = (
            z / z.norm(dim=-1, keepdim=True).clamp_min(1e-6) * z.shape[-1] ** 0.5
        )
        return embedding


class TinyHead(nn.Module):
    """Masked softmax gate over present views -> weighted sum -> classifier."""

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.gate = nn.Linear(dim, 1)
        self.classifier = nn.Linear(dim, num_classes)

    def forward(
        self, embeddings: torch.Tensor, view_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        scores = self.gate(embeddings).squeeze(-1)  # (B, V)
        scores = scores.masked_fill(~view_mask, -1e9)
        weights = torch.softmax(scores, dim=-1) * view_mask.to(scores.dtype)  # exact 0 if masked
        fused = (weights.unsqueeze(-1) * embeddings).sum(dim=1)  # (B, D)
        logits = self.classifier(fused)
        return torch.softmax(logits, dim=-1), logits, weights, fused


def build_bundle(
    folder: Path,
    seed: int = 0,
    model_version: str = "0.0.test",
    shared_encoder: bool = False,
    window_samples: int = WINDOW_SAMPLES,
) -> Path:
    """Export a random tiny model to `folder` as a bundle; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notices
        views = []
        encoder_files: dict[str, str] = {}
        for index, name in enumerate(VIEWS):
            file = "encoder_shared.onnx" if shared_encoder else f"encoder_{name}.onnx"
            if file not in encoder_files.values():
                encoder = TinyEncoder(3, EMBEDDING_DIM).eval()
                torch.onnx.export(
                    encoder,
                    (torch.randn(2, 3, window_samples),),
                    str(folder / file),
                    input_names=[ENCODER_INPUT],
                    output_names=[ENCODER_OUTPUT],
                    dynamic_axes={ENCODER_INPUT: {0: "batch"}, ENCODER_OUTPUT: {0: "batch"}},
                    opset_version=OPSET,
                    dynamo=False,
                )
            encoder_files[name] = file
            views.append(
                ViewSpec(
                    name=name,
                    modality="acc",
                    channels=[f"{name}_acc_{axis}" for axis in "xyz"],
                    sampling_rate_hz=RATE_HZ,
                    window_samples=window_samples,
                    norm_mean=[0.5 * index, -1.0, 2.0],
                    norm_std=[2.0, 3.0, 4.0 + index],
                    encoder_file=file,
                )
            )
        head = TinyHead(EMBEDDING_DIM, len(CLASSES)).eval()
        torch.onnx.export(
            head,
            (
                torch.randn(2, len(VIEWS), EMBEDDING_DIM),
                torch.ones(2, len(VIEWS), dtype=torch.bool),
            ),
            str(folder / "head.onnx"),
            input_names=list(HEAD_INPUTS),
            output_names=list(HEAD_OUTPUTS),
            dynamic_axes={n: {0: "batch"} for n in (*HEAD_INPUTS, *HEAD_OUTPUTS)},
            opset_version=OPSET,
            dynamo=False,
        )
    files = sorted({*encoder_files.values(), "head.onnx"})
    manifest = Manifest(
        model_name="ralis-tiny-test",
        model_version=model_version,
        created_at=datetime.now(UTC).isoformat(),
        training_data="none (random weights, for tests)",
        classes=list(CLASSES),
        window_seconds=window_samples / RATE_HZ,
        embedding_dim=EMBEDDING_DIM,
        opset=OPSET,
        views=views,
        head_file="head.onnx",
        sha256={f: sha256_of(folder / f) for f in files},
    )
    write_manifest(folder, manifest)
    return folder
