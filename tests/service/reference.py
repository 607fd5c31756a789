"""An independent reference prediction: numpy preprocessing + raw onnxruntime sessions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from ralis.bundle import load_manifest


class ReferenceModel:
    """Computes what the service should answer for exact-length windows at the model's rate."""

    def __init__(self, bundle_dir: Path) -> None:
        self.manifest = load_manifest(bundle_dir)
        providers = ["CPUExecutionProvider"]
        self.encoders = {
            v.name: ort.InferenceSession(str(bundle_dir / v.encoder_file), providers=providers)
            for v in self.manifest.views
        }
        self.head = ort.InferenceSession(
            str(bundle_dir / self.manifest.head_file), providers=providers
        )

    def predict(self, sensors: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (K,) and view weights (V,) for raw (T, C) windows by view."""
        dim = self.manifest.embedding_dim
        embeddings = np.zeros((1, len(self.manifest.views), dim), dtype=np.float32)
        mask = np.zeros((1, len(self.manifest.views)), dtype=np.bool_)
        for index, view in enumerate(self.manifest.views):
            if view.name not in sensors:
                continue
            x = (np.asarray(sensors[view.name]) - view.norm_mean) / view.norm_std
            window = x.T[None].astype(np.float32)  # (1, C, T)
            embeddings[0, index] = self.encoders[view.name].run(None, {"window": window})[0][0]
            mask[0, index] = True
        probabilities, _, weights, _ = self.head.run(
            None, {"embeddings": embeddings, "view_mask": mask}
        )
        return probabilities[0], weights[0]
