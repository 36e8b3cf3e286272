"""LARS against a hand-computed step, schedule endpoints, lr scaling, parameter groups by rank, the online
classifier outside LARS adaptation."""
import math

import pytest
import torch

from simclr.config import load
from simclr.optim import LARS, build_optimizer, lr_at, param_groups, scaled_lr


def test_lars_matches_hand_computed_step():
    w = torch.nn.Parameter(torch.tensor([[3.0, 4.0]]))       # ||w|| = 5
    b = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    opt = LARS([{"params": [w], "weight_decay": 0.1, "adapt": True},
                {"params": [b], "weight_decay": 0.0, "adapt": False}],
               lr=0.5, momentum=0.9, trust_coefficient=0.01)
    w.grad = torch.tensor([[0.0, 1.5]])
    b.grad = torch.tensor([2.0, 0.0])
    opt.step()
    # g' = g + 0.1 w = [0.3, 1.9]; ||g'|| = sqrt(0.09 + 3.61) = sqrt(3.7); trust = 0.01 * 5 / sqrt(3.7)
    trust = 0.01 * 5 / math.sqrt(3.7)
    v_w = [0.5 * trust * 0.3, 0.5 * trust * 1.9]
    assert torch.allclose(w.detach(), torch.tensor([[3.0 - v_w[0], 4.0 - v_w[1]]]), atol=1e-7)
    assert torch.allclose(b.detach(), torch.tensor([1.0 - 0.5 * 2.0, -1.0]))  # no decay, no trust
    # second step: momentum on the velocity
    w_before = w.detach().clone()
    w.grad = torch.tensor([[0.0, 1.5]])
    opt.step()
    g2 = torch.tensor([[0.0, 1.5]]) + 0.1 * w_before
    trust2 = 0.01 * w_before.norm() / g2.norm()
    v2 = 0.9 * torch.tensor([v_w]) + 0.5 * trust2 * g2
    assert torch.allclose(w.detach(), w_before - v2, atol=1e-7)


def test_lars_nesterov_and_zero_grad_norm():
    w = torch.nn.Parameter(torch.ones(2, 2))
    opt = LARS([{"params": [w], "weight_decay": 0.0, "adapt": True}], lr=1.0, momentum=0.5,
               trust_coefficient=1.0, nesterov=True)
    w.grad = torch.zeros(2, 2)  # zero gradient norm -> trust 1, no update, no NaN
    opt.step()
    assert torch.equal(w.detach(), torch.ones(2, 2))
    w.grad = torch.full((2, 2), 0.5)   # ||w|| = 2, ||g|| = 1 -> trust 2; v = 2 * g; step = 0.5 v + 2 g
    opt.step()
    assert torch.allclose(w.detach(), torch.ones(2, 2) - (0.5 * 1.0 + 1.0))


def test_param_groups_by_rank():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                              torch.nn.Linear(4, 2))
    decay, no_decay = param_groups(net, 1e-6)
    assert {p.ndim for p in decay["params"]} == {4, 2} and decay["weight_decay"] == 1e-6
    assert {p.ndim for p in no_decay["params"]} == {1} and no_decay["weight_decay"] == 0.0
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(net.parameters()))
    assert not no_decay["adapt"] and decay["adapt"]


def test_lr_scaling_rules():
    assert scaled_lr(0.3, 4096, "linear") == pytest.approx(4.8)
    assert scaled_lr(0.075, 4096, "sqrt") == pytest.approx(4.8)  # the paper's two rules meet at 4096
    assert scaled_lr(0.5, 512, "none") == 0.5


def test_schedule_endpoints_and_shape():
    total, warmup, peak = 1000, 100, 2.0
    lrs = [lr_at(s, total, warmup, peak) for s in range(total)]
    assert lrs[0] == pytest.approx(peak / warmup)        # first step already moves
    assert lrs[warmup - 1] == pytest.approx(peak)         # warmup ends at the peak
    assert lrs[warmup] == pytest.approx(peak)             # cosine starts at the peak
    assert lr_at(total, total, warmup, peak) == pytest.approx(0.0, abs=1e-12)
    assert lrs[-1] < 1e-4 * peak
    mid = warmup + (total - warmup) // 2
    assert lrs[mid] == pytest.approx(peak / 2, rel=1e-3)
    assert all(a <= b for a, b in zip(lrs[:warmup], lrs[1:warmup]))
    assert all(a >= b for a, b in zip(lrs[warmup:], lrs[warmup + 1:]))
    assert lr_at(0, 10, 0, 1.0) == pytest.approx(1.0)     # no warmup: starts at the peak


def test_build_optimizer_from_config():
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4))
    sgd = build_optimizer(load(None, ["optim.name=sgd", "optim.lr=0.075", "optim.lr_scaling=sqrt",
                                      "optim.nesterov=true", "optim.weight_decay=1.0e-4"]), net, 1024)
    assert isinstance(sgd, torch.optim.SGD)
    assert all(g["lr"] == pytest.approx(0.075 * 32) and g["nesterov"] for g in sgd.param_groups)
    assert [g["weight_decay"] for g in sgd.param_groups] == [1e-4, 0.0]
    lars = build_optimizer(load(None, ["optim.lr=0.3"]), net, 4096)
    assert isinstance(lars, LARS) and lars.param_groups[0]["lr"] == pytest.approx(4.8)
    assert [g["adapt"] for g in lars.param_groups] == [True, False]


class _Model(torch.nn.Module):
    """An encoder weight and the online classifier (the official head_supervised)."""

    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Conv2d(1, 2, 1, bias=False)
        self.classifier = torch.nn.Linear(2, 1)
        with torch.no_grad():
            self.encoder.weight.copy_(torch.tensor([3.0, 4.0]).view(2, 1, 1, 1))   # ||w|| = 5
            self.classifier.weight.copy_(torch.tensor([[1.0, -2.0]]))
            self.classifier.bias.fill_(0.5)


def test_classifier_is_decayed_but_not_adapted_by_lars():
    # official: LARS excludes head_supervised from decay and adaptation, and add_weight_decay puts its
    # kernel back into the loss as wd * l2_loss: the kernel is decayed with trust 1, its bias is not decayed
    net = _Model()
    opt = build_optimizer(load(None, ["optim.lr=0.5", "optim.lr_scaling=none", "optim.weight_decay=0.1",
                                      "optim.trust_coefficient=0.01"]), net, 256)
    assert [(g["weight_decay"], g["adapt"]) for g in opt.param_groups] == [(0.1, True), (0.1, False), (0.0, False)]
    assert opt.param_groups[1]["params"] == [net.classifier.weight]
    net.encoder.weight.grad = torch.tensor([0.0, 1.5]).view(2, 1, 1, 1)
    net.classifier.weight.grad = torch.tensor([[2.0, 1.0]])
    net.classifier.bias.grad = torch.tensor([3.0])
    opt.step()
    # encoder: g' = g + 0.1 w = [0.3, 1.9]; trust = 0.01 * 5 / sqrt(3.7); w -= 0.5 * trust * g'
    trust = 0.01 * 5 / math.sqrt(3.7)
    assert torch.allclose(net.encoder.weight.detach().flatten(),
                          torch.tensor([3.0 - 0.5 * trust * 0.3, 4.0 - 0.5 * trust * 1.9]), atol=1e-7)
    # classifier kernel: g' = g + 0.1 w = [2.1, 0.8], no trust ratio; bias: -lr * g
    assert torch.allclose(net.classifier.weight.detach(), torch.tensor([[1.0 - 0.5 * 2.1, -2.0 - 0.5 * 0.8]]))
    assert torch.allclose(net.classifier.bias.detach(), torch.tensor([0.5 - 0.5 * 3.0]))


def test_classifier_without_weight_decay_moves_by_minus_lr_grad():
    net = _Model()
    opt = build_optimizer(load(None, ["optim.lr=0.5", "optim.lr_scaling=none", "optim.weight_decay=0.0"]), net, 256)
    net.classifier.weight.grad = torch.tensor([[2.0, 1.0]])
    w = net.classifier.weight.detach().clone()
    opt.step()
    assert torch.allclose(net.classifier.weight.detach(), w - 0.5 * torch.tensor([[2.0, 1.0]]))


def test_sgd_groups_match_lars_groups_for_the_classifier():
    net = _Model()
    sgd = build_optimizer(load(None, ["optim.name=sgd", "optim.weight_decay=0.1"]), net, 256)
    assert [g["weight_decay"] for g in sgd.param_groups] == [0.1, 0.1, 0.0]
    assert [g["params"] for g in sgd.param_groups] == [[net.encoder.weight], [net.classifier.weight],
                                                       [net.classifier.bias]]
    assert all("adapt" not in g for g in sgd.param_groups)


def test_param_groups_unadapted_modules():
    net = _Model()
    groups = param_groups(net, 1e-6, unadapted=[net.classifier])
    assert [(g["weight_decay"], g["adapt"]) for g in groups] == [(1e-6, True), (1e-6, False), (0.0, False)]
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters()))
    assert len(param_groups(net, 1e-6)) == 2  # no empty group when nothing is left unadapted
