"""Encoders against torchvision's ResNets and the paper's parameter counts; heads expose h, z and layers
and match the official code's head, parameter by parameter."""
import copy

import pytest
import torch
import torchvision
from torch import nn

from simclr.bn import grouped_bn, swapped_bn
from simclr.distributed import GlobalBatchNorm1d
from simclr.models import ProjectionHead, ResNet, num_params


@pytest.mark.parametrize("arch", ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"])
def test_parameter_count_matches_torchvision(arch):
    ours = ResNet(arch, 1.0, stem="imagenet")
    ref = getattr(torchvision.models, arch)(weights=None)
    assert num_params(ours) == num_params(ref) - num_params(ref.fc)
    assert ours.dim == ref.fc.in_features


def test_width_multiplier_matches_paper_sizes():
    # paper Table 6: ResNet-50 (2x) 94M and (4x) 375M parameters (the encoder, without a classifier)
    for width, millions in ((2, 94), (4, 375)):
        enc = ResNet("resnet50", width, stem="imagenet")
        assert abs(num_params(enc) / 1e6 - millions) / millions < 0.01


def test_same_function_as_torchvision_resnet18_with_shared_weights():
    ours = ResNet("resnet18", stem="imagenet").eval()
    ref = torchvision.models.resnet18(weights=None).eval()
    src = [p for n, p in ref.state_dict().items() if not n.startswith("fc.")]
    dst = ours.state_dict()
    assert len(src) == len(dst)
    ours.load_state_dict(dict(zip(dst.keys(), src)))
    x = torch.rand(2, 3, 64, 64)
    ref.fc = torch.nn.Identity()
    assert torch.allclose(ours(x), ref(x * 2 - 1), atol=1e-5)


def test_cifar_stem_keeps_resolution():
    enc = ResNet("resnet18", stem="cifar")
    assert enc.stem[0].kernel_size == (3, 3) and enc.stem[0].stride == (1, 1)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in enc.modules())
    feats = enc.stages[0](enc.stem(torch.rand(2, 3, 32, 32)))
    assert feats.shape[-2:] == (32, 32)
    assert enc(torch.rand(2, 3, 32, 32)).shape == (2, 512)


def test_small_resnets():
    assert ResNet("resnet_tiny").dim == 128 and ResNet("resnet_small").dim == 256
    assert ResNet("resnet_tiny", width=2).dim == 256


@pytest.mark.parametrize("kind, layers, n_linear", [("none", 2, 0), ("linear", 2, 1), ("mlp", 2, 2), ("mlp", 3, 3)])
def test_projection_heads(kind, layers, n_linear):
    head = ProjectionHead(64, kind, layers, hidden_dim=32, out_dim=16, bn=True).train()
    h = torch.randn(8, 64)
    outs = head.layers(h)
    z = head(h)
    assert len(outs) == n_linear
    assert sum(isinstance(m, torch.nn.Linear) for m in head.modules()) == n_linear
    if kind == "none":
        assert torch.equal(z, h)
    else:
        assert torch.equal(outs[-1], z) and z.shape == (8, 16)
        if kind == "mlp":
            assert outs[0].shape == (8, 32) and (outs[0] >= 0).all()  # hidden layers end in ReLU
            # the last layer: Linear without bias then BN without shift: z is centred per dim
            assert torch.allclose(z.mean(0), torch.zeros(16), atol=1e-5)


def test_head_without_bn_is_plain_linear_layers():
    head = ProjectionHead(8, "mlp", 2, hidden_dim=6, out_dim=4, bn=False)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in head.modules())
    h = torch.randn(3, 8)
    l1, l2 = head.blocks[0][0], head.blocks[1][0]
    assert torch.allclose(head(h), l2(torch.relu(l1(h))))


def official_head(kind: str, layers: int) -> list[dict]:
    """google-research/simclr model_util.projection_head and linear_layer, transcribed: per layer, whether
    the dense layer has a bias, whether its BN learns the shift (center=use_bias) and the scale (always),
    and whether a ReLU follows."""
    def linear_layer(use_bias, use_bn, relu):
        return {"dense_bias": use_bias and not use_bn, "bn_beta": use_bn and use_bias, "bn_gamma": use_bn,
                "relu": relu}
    if kind == "none":
        return []
    if kind == "linear":
        return [linear_layer(use_bias=False, use_bn=True, relu=False)]
    return [linear_layer(use_bias=j != layers - 1, use_bn=True, relu=j != layers - 1) for j in range(layers)]


def head_layout(head: ProjectionHead) -> list[dict]:
    out = []
    for block in head.blocks:
        linear, bn = block[0], next((m for m in block if isinstance(m, nn.BatchNorm1d)), None)
        trains = lambda p: p is not None and isinstance(p, nn.Parameter) and p.requires_grad
        out.append({"dense_bias": linear.bias is not None, "bn_beta": bn is not None and trains(bn.bias),
                    "bn_gamma": bn is not None and trains(bn.weight),
                    "relu": any(isinstance(m, nn.ReLU) for m in block)})
    return out


@pytest.mark.parametrize("kind, layers", [("none", 2), ("linear", 2)] + [("mlp", k) for k in (1, 2, 3, 4)])
def test_head_parameters_match_the_official_head(kind, layers):
    head = ProjectionHead(12, kind, layers, hidden_dim=10, out_dim=6, bn=True)
    assert head_layout(head) == official_head(kind, layers)
    n = len(head.blocks)
    # hidden BN: gamma and beta; last BN: gamma only; Linear: no bias
    expected = set()
    for i in range(n):
        expected |= {f"blocks.{i}.0.weight", f"blocks.{i}.1.weight"} | ({f"blocks.{i}.1.bias"} if i < n - 1 else set())
    assert {name for name, _ in head.named_parameters()} == expected
    if n:  # the shift-less BN is still a plain BatchNorm1d, so the BN swaps reach it
        last = head.blocks[-1][1]
        assert type(last) is nn.BatchNorm1d and last.bias is None and "blocks.%d.1.bias" % (n - 1) not in head.state_dict()


def test_head_state_dict_round_trip():
    a, b = ProjectionHead(12, "mlp", 3, 10, 6), ProjectionHead(12, "mlp", 3, 10, 6)
    with torch.no_grad():
        a.blocks[-1][1].weight.fill_(2.5)
    b.load_state_dict(a.state_dict())
    h = torch.randn(8, 12)
    assert torch.equal(a(h), b(h)) and torch.equal(copy.deepcopy(a)(h), a(h))


@pytest.mark.parametrize("kind, layers", [("linear", 1), ("mlp", 2), ("mlp", 3)])
def test_norm_of_z_follows_gamma(kind, layers):
    torch.manual_seed(0)
    head = ProjectionHead(32, kind, layers, hidden_dim=24, out_dim=8).train()
    h = torch.randn(64, 32)
    with torch.no_grad():
        head.blocks[0][0].weight.mul_(10)  # the Linear weights never move the norm: BN standardizes
    # before gamma each dim has batch mean 0 and variance var / (var + eps): mean ||z||^2 = gamma^2 * out_dim
    assert head(h).pow(2).sum(1).mean().item() == pytest.approx(8, rel=1e-3)
    with torch.no_grad():
        head.blocks[-1][1].weight.fill_(2.0)
    z = head(h)
    assert z.pow(2).sum(1).mean().item() == pytest.approx(4 * 8, rel=1e-3)
    assert torch.allclose(z.mean(0), torch.zeros(8), atol=1e-5)  # no shift
    # a loss rewarding larger ||z|| moves gamma (up)
    gamma = head.blocks[-1][1].weight
    opt = torch.optim.SGD(head.parameters(), lr=0.1)
    opt.zero_grad()
    (-head(h).pow(2).sum(1).mean()).backward()
    opt.step()
    assert (gamma.detach() > 2.0).all()


def per_device_head(head: nn.Module, x: torch.Tensor, k: int) -> torch.Tensor:
    """The oracle: device g holds both views of images g*N/k .. (g+1)*N/k - 1 and its own head copy."""
    n_img = x.shape[0] // 2
    n = n_img // k
    out = []
    for g in range(k):
        idx = torch.cat([torch.arange(g * n, (g + 1) * n), n_img + torch.arange(g * n, (g + 1) * n)])
        out.append((idx, copy.deepcopy(head)(x[idx])))
    y = torch.empty(x.shape[0], out[0][1].shape[1])
    for idx, part in out:
        y[idx] = part
    return y


def _head_with_gamma_and_beta():
    torch.manual_seed(1)
    head = ProjectionHead(16, "mlp", 3, hidden_dim=12, out_dim=6).train()
    with torch.no_grad():
        for m in head.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.weight.uniform_(0.5, 3.0)
                if m.bias is not None:
                    m.bias.uniform_(-1.0, 1.0)
    return head


@pytest.mark.parametrize("k", [2, 4])
def test_per_device_bn_reaches_the_shift_less_bn(k):
    head = _head_with_gamma_and_beta()
    x = torch.randn(32, 16) * 2 + 1
    ref = per_device_head(head, x, k)
    with grouped_bn(head, k):
        assert all(type(m).__name__ == "GroupedBatchNorm1d" for m in head.modules() if isinstance(m, nn.BatchNorm1d))
        y = head(x)
    assert torch.allclose(y, ref, atol=1e-5)


def test_global_bn_in_one_process_equals_plain_bn_on_the_head():
    head = _head_with_gamma_and_beta()
    x = torch.randn(32, 16) * 2 + 1
    plain = copy.deepcopy(head)
    ref = plain(x)
    with swapped_bn(head, {nn.BatchNorm1d: GlobalBatchNorm1d}):
        assert type(head.blocks[-1][1]) is GlobalBatchNorm1d
        y = head(x)
    assert torch.allclose(y, ref, atol=1e-5)
    assert torch.allclose(head.blocks[-1][1].running_var, plain.blocks[-1][1].running_var, atol=1e-6)
