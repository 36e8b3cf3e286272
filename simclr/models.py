"""Encoders f (ResNets with a width multiplier and a CIFAR stem) and projection heads g.

h = f(view) is the output of global average pooling; z = g(h). A head exposes every layer's output
so that evaluations can probe h, z and the layers in between (SimCLRv2 fine-tunes from the first).
"""
from __future__ import annotations

import torch
from torch import nn

from simclr.config import choice

# arch -> (block, blocks per stage, base width); stage widths are base * (1, 2, 4, 8) * width multiplier
RESNETS = {
    "resnet_tiny": ("basic", (1, 1, 1, 1), 16),
    "resnet_small": ("basic", (1, 1, 1, 1), 32),
    "resnet18": ("basic", (2, 2, 2, 2), 64),
    "resnet34": ("basic", (3, 4, 6, 3), 64),
    "resnet50": ("bottleneck", (3, 4, 6, 3), 64),
    "resnet101": ("bottleneck", (3, 4, 23, 3), 64),
    "resnet152": ("bottleneck", (3, 8, 36, 3), 64),
}

STEMS = ("cifar", "imagenet")
# encoder.input_norm -> (mean, std) the views in [0, 1] are normalised by
INPUT_NORMS = {"centred": (0.5, 0.5), "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
               "none": (0.0, 1.0)}
HEAD_KINDS = ("none", "linear", "mlp")


def head_layers(head) -> int:
    """The linear layers of a projection head config (none: z = h)."""
    return {"none": 0, "linear": 1}.get(head.kind, head.layers)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = _shortcut(cin, cout, stride)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)  # stride on the 3x3 (ResNet v1.5)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.shortcut = _shortcut(cin, cout, stride)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        return torch.relu(self.bn3(self.conv3(out)) + self.shortcut(x))


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module:
    if stride == 1 and cin == cout:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class ResNet(nn.Module):
    """ResNet encoder f: view (B,3,H,W) in [0,1] -> h (B, dim)."""

    def __init__(self, arch: str = "resnet18", width: float = 1.0, stem: str = "cifar", input_norm: str = "centred"):
        super().__init__()
        kind, layers, base = RESNETS[arch]
        # views arrive in [0, 1]; centred: x * 2 - 1 (BN after the stem handles the scale); imagenet:
        # torchvision's mean/std, for its supervised weights; none: as is. Not in the state dict.
        mean, std = INPUT_NORMS[input_norm]
        # (3, 1, 1) tensors of their own (an expanded scalar shares one element, which in-place moves refuse)
        self.register_buffer("mean", torch.tensor(mean).expand(3).reshape(3, 1, 1).clone(), persistent=False)
        self.register_buffer("std", torch.tensor(std).expand(3).reshape(3, 1, 1).clone(), persistent=False)
        self.input_norm = input_norm
        block = BasicBlock if kind == "basic" else Bottleneck
        widths = [max(1, round(base * width * 2 ** i)) for i in range(4)]
        if stem == "cifar":  # 3x3 stride 1, no max-pool: the ImageNet stem discards most of a 32x32 image
            self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False),
                                      nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        else:
            self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 7, 2, 3, bias=False), nn.BatchNorm2d(widths[0]),
                                      nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        stages, cin = [], widths[0]
        for i, (w, n) in enumerate(zip(widths, layers)):
            blocks = []
            for j in range(n):
                blocks.append(block(cin, w, 2 if (i > 0 and j == 0) else 1))
                cin = w * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.dim = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_norm == "centred":
            x = x * 2.0 - 1.0  # as before the normalisation had a choice: bit for bit the same
        elif self.input_norm == "imagenet":
            x = (x - self.mean) / self.std
        return self.stages(self.stem(x)).mean(dim=(2, 3))


class ProjectionHead(nn.Module):
    """g: h -> z. forward returns z; `layers(h)` returns every layer's output, z last.

    As the official code's head: mlp with k layers is (Linear -> BN(gamma, beta) -> ReLU) x (k-1), then
    Linear -> BN(gamma only); linear is that last layer alone; none: z = h. The Linears have no bias
    (the BN after them centres). Without bn, each layer is a Linear with bias.
    """

    def __init__(self, in_dim: int, kind: str = "mlp", layers: int = 2, hidden_dim: int = 0,
                 out_dim: int = 128, bn: bool = True):
        super().__init__()
        hidden = hidden_dim or in_dim
        n = {"none": 0, "linear": 1, "mlp": layers}[kind]
        dims = [in_dim] + [hidden] * (n - 1) + [out_dim]
        self.blocks = nn.ModuleList()
        for i in range(n):
            last = i == n - 1
            mods: list[nn.Module] = [nn.Linear(dims[i], dims[i + 1], bias=not bn)]
            if bn:
                # the last BN learns gamma but no beta: gamma sets the norm of z, so the logits can sharpen
                # without l2 normalisation (standardized z alone has mean ||z||^2 = out_dim)
                mods.append(nn.BatchNorm1d(dims[i + 1], bias=not last))
            if not last:
                mods.append(nn.ReLU(inplace=True))
            self.blocks.append(nn.Sequential(*mods))
        self.out_dim = dims[-1] if n else in_dim

    def layers(self, h: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for block in self.blocks:
            h = block(h)
            outs.append(h)
        return outs

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.layers(h)[-1] if len(self.blocks) else h


class SimCLRModel(nn.Module):
    """Encoder f, projection head g, and the online linear classifier on stop-gradient(h)."""

    def __init__(self, encoder: nn.Module, head: nn.Module, num_classes: int):
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.classifier = nn.Linear(encoder.dim, num_classes)

    def forward(self, views: torch.Tensor):
        h = self.encoder(views)
        z = self.head(h)
        return h, z, self.classifier(h.detach())


def build_model(cfg, num_classes: int) -> SimCLRModel:
    e, g = cfg.encoder, cfg.head
    encoder = ResNet(e.arch, e.width, e.stem, e.input_norm)
    head = ProjectionHead(encoder.dim, g.kind, g.layers, g.hidden_dim, g.out_dim, g.bn)
    return SimCLRModel(encoder, head, num_classes)


def num_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def config_errors(cfg, world_size: int = 1) -> list[str]:
    """The problems of the encoder and head sections, each naming its fix."""
    enc, hd = cfg.encoder, cfg.head
    e = choice("encoder.arch", enc.arch, RESNETS) + choice("encoder.stem", enc.stem, STEMS)
    e += choice("encoder.input_norm", enc.input_norm, INPUT_NORMS)
    if enc.width <= 0:
        e.append(f"encoder.width={enc.width}: must be > 0")
    if bool(enc.weights) != bool(enc.weights_sha256):
        e.append("encoder.weights and encoder.weights_sha256 come together: python -m simclr.evaluate_weights "
                 "PATH fills in the file's sha256")
    e += choice("head.kind", hd.kind, HEAD_KINDS)
    if hd.kind == "mlp" and hd.layers < 2:
        e.append(f"head.layers={hd.layers}: an mlp head has >= 2 layers (use head.kind=linear for one)")
    if hd.out_dim <= 0 or hd.hidden_dim < 0:
        e.append("head.out_dim must be > 0 and head.hidden_dim >= 0 (0 = dim of h)")
    return e
