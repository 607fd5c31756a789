"""FLOPs of one forward call, counted two independent ways (2 FLOPs per multiply-add)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from model.moe import ExpertBank, SparseMoEHead


def counted_flops(module: nn.Module, args: tuple[torch.Tensor, ...]) -> int:
    """FLOPs of one call as torch's FlopCounterMode counts them (matmuls and convs, 2 per MAC)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*args)
    return int(counter.get_total_flops())


def shape_flops(module: nn.Module, args: tuple[torch.Tensor, ...]) -> int:
    """FLOPs from layer shapes: 2 x multiply-adds of every Conv1d, Linear, gate and expert."""
    total = 0
    handles = []

    def conv_or_linear(layer: nn.Module, _: Any, output: torch.Tensor) -> None:
        nonlocal total
        weight = layer.weight
        assert isinstance(weight, torch.Tensor)
        if isinstance(layer, nn.Conv1d):  # out x in/groups x k per output position
            total += 2 * weight.numel() * output.shape[0] * output.shape[-1]
        else:  # Linear: out x in per output row
            total += 2 * weight.numel() * output.numel() // weight.shape[0]

    def experts(bank: nn.Module, inputs: tuple[torch.Tensor, ...], _: Any) -> None:
        nonlocal total
        assert isinstance(bank, ExpertBank)
        rows = inputs[0].shape[0]
        total += 2 * rows * (bank.w1.numel() + bank.w2.numel())  # every expert, densely

    def gate(head: nn.Module, inputs: tuple[torch.Tensor, ...], _: Any) -> None:
        nonlocal total
        assert isinstance(head, SparseMoEHead)
        total += 2 * inputs[0].shape[0] * head.w_gate.numel()

    for layer in module.modules():
        if isinstance(layer, nn.Conv1d | nn.Linear):
            handles.append(layer.register_forward_hook(conv_or_linear))
        elif isinstance(layer, ExpertBank):
            handles.append(layer.register_forward_hook(experts))
        elif isinstance(layer, SparseMoEHead):
            handles.append(layer.register_forward_hook(gate))
    try:
        with torch.no_grad():
            module(*args)
    finally:
        for handle in handles:
            handle.remove()
    return total
