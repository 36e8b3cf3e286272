"""LARS, parameter groups, learning-rate scaling and the per-step warmup + cosine schedule."""
from __future__ import annotations

import math

import torch

from simclr.config import choice

OPTIMIZERS = ("lars", "sgd")
LR_SCALING = ("linear", "sqrt", "none")  # base lr times B/256, times sqrt(B), as is


def scaled_lr(base_lr: float, batch_size: int, rule: str) -> float:
    """linear: base * B/256 (paper 0.3); sqrt: base * sqrt(B) (paper 0.075); none: base."""
    if rule == "linear":
        return base_lr * batch_size / 256
    if rule == "sqrt":
        return base_lr * math.sqrt(batch_size)
    return base_lr


def lr_at(step: int, total: int, warmup: int, peak: float) -> float:
    """Learning rate for optimizer step `step` (0-based): linear warmup to peak, cosine decay to 0.

    Stepped per optimizer step, never per epoch, so it agrees with any epoch length.
    """
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def param_groups(module: torch.nn.Module, weight_decay: float, unadapted=()) -> list[dict]:
    """Weight decay and LARS adaptation only for weights of rank >= 2; biases and BN (ndim <= 1) excluded.

    The weights of the modules in `unadapted` are decayed but skip LARS adaptation (a group of its own,
    present only when it has parameters).
    """
    plain = {id(p) for m in unadapted for p in m.parameters()}
    params = [p for p in module.parameters() if p.requires_grad]
    weights = [p for p in params if p.ndim > 1]
    groups = [
        {"params": [p for p in weights if id(p) not in plain], "weight_decay": weight_decay, "adapt": True},
        {"params": [p for p in weights if id(p) in plain], "weight_decay": weight_decay, "adapt": False},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0, "adapt": False},
    ]
    return [g for i, g in enumerate(groups) if i != 1 or g["params"]]


class LARS(torch.optim.Optimizer):
    """Layer-wise adaptive rate scaling (You et al. 2017) as in the SimCLR code.

    For an adapted parameter w with gradient g: g' = g + wd * w; trust = eta * ||w|| / ||g'||
    (1 when either norm is 0); v = momentum * v + lr * trust * g'; w -= v
    (Nesterov: w -= momentum * v + lr * trust * g'). Groups with adapt=False skip the trust ratio
    (trust = 1), keeping their own weight decay.
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                 trust_coefficient: float = 1e-3, nesterov: bool = False):
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                        trust_coefficient=trust_coefficient, nesterov=nesterov, adapt=True)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        # one multi-tensor kernel per operation over a group's parameters (torch._foreach_*), not a
        # dozen small kernels per parameter: ResNet-50 has 161 of them
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            lr, mom, wd = group["lr"], group["momentum"], group["weight_decay"]
            grads = [p.grad for p in params]
            if wd:
                grads = torch._foreach_add(grads, params, alpha=wd)
            if group["adapt"]:
                w_norm = torch.stack(torch._foreach_norm(params))
                g_norm = torch.stack(torch._foreach_norm(grads))
                trust = torch.where((w_norm > 0) & (g_norm > 0), group["trust_coefficient"] * w_norm / g_norm,
                                    torch.ones_like(w_norm))
                grads = torch._foreach_mul(grads, list(trust.unbind()))
            for p in params:
                if "velocity" not in self.state[p]:
                    self.state[p]["velocity"] = torch.zeros_like(p)
            velocity = [self.state[p]["velocity"] for p in params]
            torch._foreach_mul_(velocity, mom)
            torch._foreach_add_(velocity, grads, alpha=lr)
            if group["nesterov"]:
                torch._foreach_sub_(params, torch._foreach_add(torch._foreach_mul(velocity, mom), grads, alpha=lr))
            else:
                torch._foreach_sub_(params, velocity)
        return None


def build_optimizer(cfg, module: torch.nn.Module, batch_size: int):
    """The optimizer for pretraining; its lr is overwritten every step by lr_at."""
    o = cfg.optim
    # the online classifier (the official head_supervised) is excluded from LARS adaptation; the official
    # code still decays its weight (an l2 loss on its kernel), so only the trust ratio is dropped
    classifier = getattr(module, "classifier", None)
    groups = param_groups(module, o.weight_decay, unadapted=[classifier] if classifier is not None else [])
    peak = scaled_lr(o.lr, batch_size, o.lr_scaling)
    if o.name == "lars":
        return LARS(groups, lr=peak, momentum=o.momentum, weight_decay=o.weight_decay,
                    trust_coefficient=o.trust_coefficient, nesterov=o.nesterov)
    for g in groups:
        g.pop("adapt")
    return torch.optim.SGD(groups, lr=peak, momentum=o.momentum, nesterov=o.nesterov)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def config_errors(cfg, world_size: int = 1) -> list[str]:
    """The problems of the optim section, each naming its fix."""
    o = cfg.optim
    e = choice("optim.name", o.name, OPTIMIZERS) + choice("optim.lr_scaling", o.lr_scaling, LR_SCALING)
    if o.lr <= 0 or o.weight_decay < 0 or not 0 <= o.momentum < 1 or o.warmup_epochs < 0:
        e.append("optim: need lr > 0, weight_decay >= 0, 0 <= momentum < 1, warmup_epochs >= 0")
    if o.trust_coefficient <= 0:
        e.append(f"optim.trust_coefficient={o.trust_coefficient}: must be > 0 (paper 1e-3)")
    if o.nesterov and o.momentum == 0:
        e.append("optim.nesterov=true needs optim.momentum > 0")
    return e
