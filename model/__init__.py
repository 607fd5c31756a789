"""RALIS network and losses in pure PyTorch (no I/O)."""

from model.config import RalisConfig, ViewConfig
from model.network import (
    EmptyViewSetError,
    LossTerms,
    RalisModel,
    RalisOutput,
    compute_losses,
    contrastive_term,
)

__all__ = [
    "EmptyViewSetError",
    "LossTerms",
    "RalisConfig",
    "RalisModel",
    "RalisOutput",
    "ViewConfig",
    "compute_losses",
    "contrastive_term",
]
