"""Encoders against torchvision's ResNets and the paper's parameter counts; heads expose h, z and layers."""
import pytest
import torch
import torchvision

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
            # the last layer: Linear without bias then BN without affine: z is standardized per dim
            assert torch.allclose(z.mean(0), torch.zeros(16), atol=1e-5)


def test_head_without_bn_is_plain_linear_layers():
    head = ProjectionHead(8, "mlp", 2, hidden_dim=6, out_dim=4, bn=False)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in head.modules())
    h = torch.randn(3, 8)
    l1, l2 = head.blocks[0][0], head.blocks[1][0]
    assert torch.allclose(head(h), l2(torch.relu(l1(h))))
