"""Per-device BN emulated in one process equals BN run separately on each device's images."""
import copy

import pytest
import torch
from torch import nn

import simclr
from simclr.bn import grouped_bn
from simclr.checks import validate
from simclr.config import load


def per_device(bn: nn.Module, x: torch.Tensor, k: int):
    """The oracle: device g holds both views of images g*N/k .. (g+1)*N/k - 1 and its own BN copy."""
    n_img = x.shape[0] // 2
    n = n_img // k
    out, means, variances = torch.empty_like(x), [], []
    for g in range(k):
        idx = torch.cat([torch.arange(g * n, (g + 1) * n), n_img + torch.arange(g * n, (g + 1) * n)])
        device_bn = copy.deepcopy(bn)
        out[idx] = device_bn(x[idx])
        means.append(device_bn.running_mean)
        variances.append(device_bn.running_var)
    return out, torch.stack(means).mean(0), torch.stack(variances).mean(0)


@pytest.mark.parametrize("shape, cls", [((16, 3, 5, 5), nn.BatchNorm2d), ((16, 6), nn.BatchNorm1d)])
@pytest.mark.parametrize("k", [1, 2, 4])
def test_grouped_bn_equals_one_bn_per_device(shape, cls, k):
    torch.manual_seed(k)
    x = torch.randn(shape) * 3 + 1
    bn = cls(shape[1])
    nn.init.uniform_(bn.weight)
    nn.init.uniform_(bn.bias)
    ref_out, ref_mean, ref_var = per_device(copy.deepcopy(bn), x, k)
    with grouped_bn(nn.Sequential(bn), k):
        y = bn(x)
    assert torch.allclose(y, ref_out, atol=1e-5)
    assert torch.allclose(bn.running_mean, ref_mean, atol=1e-6) and torch.allclose(bn.running_var, ref_var, atol=1e-5)
    assert type(bn) is cls and not hasattr(bn, "groups")  # restored after the block


def test_grouped_bn_leaves_eval_mode_and_state_dict_alone():
    bn = nn.BatchNorm2d(3).eval()
    x = torch.randn(8, 3, 4, 4)
    keys = set(bn.state_dict())
    with grouped_bn(nn.Sequential(bn), 4):
        assert torch.equal(bn(x), nn.BatchNorm2d(3).eval()(x)) and set(bn.state_dict()) == keys


def test_per_device_bn_runs_and_is_validated(tmp_path):
    base = ["data.num_train=256", "data.num_test=64", "train.batch_size=64", "train.steps=3",
            "optim.warmup_epochs=0.25", "eval.linear=false", "eval.knn_k=5", "train.progress=false"]
    m = simclr.run(load("configs/tiny.yaml", base + ["train.bn_groups=4"]), tmp_path)
    assert m["status"] == "completed"
    with pytest.raises(simclr.ConfigError, match="bn_groups=3"):
        validate(load("configs/tiny.yaml", base + ["train.bn_groups=3"]))


def test_grouped_bn_cumulative_average_when_momentum_is_none():
    torch.manual_seed(0)
    x = torch.randn(16, 3, 4, 4) * 2 + 1
    bn = nn.BatchNorm2d(3, momentum=None)
    _, ref_mean, ref_var = per_device(copy.deepcopy(bn), x, 4)
    with grouped_bn(nn.Sequential(bn), 4):
        bn(x)
    assert torch.allclose(bn.running_mean, ref_mean, atol=1e-6) and torch.allclose(bn.running_var, ref_var, atol=1e-5)
