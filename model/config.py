"""Frozen configuration of a RALIS network; every ablation of the paper's Table 5 is a field."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

ContrastiveKind = Literal["adjusted_center", "full_graph", "cocoa", "none"]


@dataclass(frozen=True)
class Ablation:
    """One row of the paper's Table 5: its name there, the `ralis train` flag that turns it on
    (None where another option covers it), and the `RalisConfig` fields it overrides.

    The model config, the CLI flags and the experiment names and folders all derive from
    `ABLATIONS`, so the three cannot drift apart.
    """

    name: str
    flag: str | None
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """The experiment folder name, e.g. "-ind. view" -> "no_ind_view"."""
        return variant_slug(self.name)

    @property
    def dest(self) -> str | None:
        """The argparse attribute of `flag`."""
        return None if self.flag is None else self.flag.replace("-", "_")


def variant_slug(name: str) -> str:
    """A table variant's name as a folder name: '-' -> 'no_', '+' -> 'plus_', no dots."""
    return name.replace(" ", "_").replace(".", "").replace("+", "plus_").replace("-", "no_")


ABLATIONS: tuple[Ablation, ...] = (
    Ablation("RALIS", None),
    Ablation("-MoE", "no-moe", {"use_moe": False}),
    Ablation("-contrast", None, {"contrastive": "none"}),  # --contrastive none
    Ablation("-attention", "no-attention", {"use_attention": False}),
    Ablation("-magnorm", "no-magnorm", {"use_magnorm": False}),
    Ablation("-ind. view", "no-individual-views", {"individual_view_training": False}),
    Ablation("-sep. load", "joint-load-balance", {"separate_load_balance": False}),
    Ablation("-stop grad", "no-stop-grad", {"stop_grad_attention": False}),
    Ablation("+full graph", None, {"contrastive": "full_graph"}),  # --contrastive full_graph
)

# The Table 5 variants as RalisConfig overrides by name; "RALIS" is the full model.
TABLE5_ABLATIONS: dict[str, dict[str, Any]] = {a.name: dict(a.overrides) for a in ABLATIONS}


@dataclass(frozen=True)
class ViewConfig:
    """One input view: its name, channel count and which encoder it uses.

    Views with the same `encoder_group` share one encoder (homogeneous views); by default
    each view has its own. `pose_dims` 2 or 3 marks a pose view (joint-major channels):
    its encoder first root-centres and scale-normalises the joints (model/pose.py) about
    `root_joint`, scaled by the `root_joint`-`scale_joint` distance (None: all joints).
    """

    name: str
    in_channels: int
    encoder_group: str | None = None
    pose_dims: int = 0
    root_joint: int = 0
    scale_joint: int | None = None

    @property
    def group(self) -> str:
        return self.encoder_group or self.name


def _check_pose_view(view: ViewConfig) -> None:
    if view.pose_dims not in (2, 3) or view.in_channels % view.pose_dims:
        raise ValueError(
            f"view '{view.name}': pose_dims must be 2 or 3 and divide its "
            f"{view.in_channels} channels, got {view.pose_dims}"
        )
    num_joints = view.in_channels // view.pose_dims
    for field_name in ("root_joint", "scale_joint"):
        joint = getattr(view, field_name)
        if joint is not None and not 0 <= joint < num_joints:
            raise ValueError(
                f"view '{view.name}': {field_name} {joint} is not a joint index in "
                f"0..{num_joints - 1}"
            )


@dataclass(frozen=True)
class RalisConfig:
    """Architecture and ablation switches. Loss *weights* live in the training config."""

    views: tuple[ViewConfig, ...]
    num_classes: int
    embed_dim: int = 128
    # Widths of the 4 residual blocks of each 1D ResNet encoder.
    encoder_widths: tuple[int, int, int, int] = (32, 64, 64, 128)
    # The paper leaves it open; 9 beat 5 on every DSADS seed and scenario and on Berkeley
    # MHAD (results/dsads/tables/README.md, encoder table). Before 2026-12-02 it was 5.
    kernel_size: int = 9
    fusion_hidden: int = 64
    num_experts: int = 16
    top_k: int = 3
    expert_hidden: int = 128
    temperature: float = 0.1
    # Label smoothing of every classification term (0 = the paper's plain cross-entropy):
    # the target puts 1 - e on the true class and e / K on every class.
    label_smoothing: float = 0.0

    # Ablations (paper Table 5). Defaults are the full RALIS model.
    use_moe: bool = True  # False = "-MoE": a plain MLP head
    contrastive: ContrastiveKind = (
        "adjusted_center"  # "none" = "-contrast"; "full_graph" = "+full graph"
    )
    use_attention: bool = True  # False = "-attention": uniform weights over present views
    use_magnorm: bool = True  # False = "-magnorm"
    individual_view_training: bool = True  # False = "-ind. view"
    separate_load_balance: bool = True  # False = "-sep. load": one balance loss over all tokens
    stop_grad_attention: bool = True  # False = "-stop grad"

    def __post_init__(self) -> None:
        if not self.views:
            raise ValueError("a model needs at least one view")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {self.label_smoothing}")
        names = [v.name for v in self.views]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate view names: {names}")
        channels_by_group: dict[str, int] = {}
        pose_by_group: dict[str, tuple[int, int, int | None]] = {}
        for view in self.views:
            seen = channels_by_group.setdefault(view.group, view.in_channels)
            if seen != view.in_channels:
                raise ValueError(
                    f"encoder group '{view.group}' mixes {seen} and {view.in_channels} channels; "
                    "views sharing an encoder must have the same channel count"
                )
            pose = (view.pose_dims, view.root_joint, view.scale_joint)
            if pose_by_group.setdefault(view.group, pose) != pose:
                raise ValueError(
                    f"encoder group '{view.group}' mixes pose settings; views sharing an "
                    "encoder must share pose_dims, root_joint and scale_joint"
                )
            if view.pose_dims:
                _check_pose_view(view)
        if not 1 <= self.top_k <= self.num_experts:
            raise ValueError(
                f"top_k must be in [1, num_experts={self.num_experts}], got {self.top_k}"
            )
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")

    @property
    def num_views(self) -> int:
        return len(self.views)

    @property
    def view_names(self) -> list[str]:
        return [v.name for v in self.views]

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, stored inside checkpoints."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RalisConfig:
        """Inverse of `to_dict`."""
        fields = dict(data)
        fields.pop("extra", None)  # an unused field that checkpoints before 2026-11-30 carry
        fields["views"] = tuple(ViewConfig(**v) for v in fields["views"])
        fields["encoder_widths"] = tuple(fields["encoder_widths"])
        return cls(**fields)
