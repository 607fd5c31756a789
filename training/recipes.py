"""Named recipe variants: overrides of `ralis train`'s defaults (TrainConfig fields; "model"
holds RalisConfig overrides), shared by the DSADS tables and Berkeley MHAD so that one name
means one configuration wherever it is run."""

from __future__ import annotations

from typing import Any

# Kernel 9 won the DSADS encoder table on all 3 seeds (results/dsads/tables/README.md) and a
# separate contrastive batch of 16 gained on all 3 (results/dsads/recipe/README.md); the
# shipped DSADS model 1.2.0 was trained with both.
KERNEL9_SEPARATE_BATCHES: dict[str, Any] = {
    "model": {"kernel_size": 9},
    "contrastive_batch_size": 16,
}

RECIPES: dict[str, dict[str, Any]] = {
    "default": {},
    "kernel9_separate_batches": KERNEL9_SEPARATE_BATCHES,
}


def with_recipe(fields: dict[str, Any], recipe: dict[str, Any]) -> dict[str, Any]:
    """`fields` (TrainConfig keyword arguments) under `recipe`; `fields` wins, and model
    overrides merge key by key, so an ablation's switch keeps the recipe's kernel."""
    merged = {**recipe, **fields}
    merged["model"] = {**recipe.get("model", {}), **fields.get("model", {})}
    return merged
