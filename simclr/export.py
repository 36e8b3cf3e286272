"""Weights out: a run's encoder f as a torchvision ResNet state dict, and back.

    python -m simclr.export RUN_DIR OUT.safetensors|OUT.pt [--head]

resnet18/34/50/101/152 at width 1 export under torchvision's own keys, loadable with strict=True:

    import torch, torchvision
    m = torchvision.models.resnet50(weights=None)
    m.fc = torch.nn.Identity()                          # h, the 2048-d output of global average pooling
    # CIFAR stem runs only, first:
    # m.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False); m.maxpool = torch.nn.Identity()
    m.load_state_dict(safetensors.torch.load_file("OUT.safetensors"))
    # or m.load_state_dict(torch.load("OUT.pt", weights_only=True))

Inputs: RGB in [0, 1], then torchvision's Normalize with the .json's "normalize" (mean = std = [0.5] * 3
for the suite's own runs): the suite's encoder centres its views as x * 2 - 1 inside forward (not
folded into conv1: its zero padding would then pad with -1 instead of 0, and the border outputs would
differ). Other ResNets (resnet_tiny, resnet_small, any width) export under simclr.models.ResNet's keys,
loadable into ResNet(arch, width, stem) from the .json written beside the weights (OUT.safetensors.json).
The key map, in both directions, is `torchvision_keys`: stem.0 -> conv1, stem.1 -> bn1, stages.i.j ->
layer{i+1}.j, shortcut.0/1 -> downsample.0/1, the block's convN/bnN unchanged (the bottleneck's stride
on its 3x3, as torchvision's ResNet v1.5).

OUT.<suffix>.json beside the weights records the run, the architecture, the key format, the input
normalisation and the weights' sha256. --head adds the projection head g under "head." keys (so the
file then loads with strict=False, or after taking those keys out).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

import torch

from simclr.config import from_dict
from simclr.models import RESNETS

TORCHVISION = {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152"}
# what the encoder does to an image in [0, 1] (encoder.input_norm), as torchvision's Normalize
NORMALIZE = {"centred": {"mean": [0.5] * 3, "std": [0.5] * 3},
             "imagenet": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
             "none": {"mean": [0.0] * 3, "std": [1.0] * 3}}
_OURS = [(r"^stem\.0\.", "conv1."), (r"^stem\.1\.", "bn1."), (r"\.shortcut\.", ".downsample.")]


def torchvision_format(arch: str, width: float) -> bool:
    """Whether this encoder has torchvision's layout (its depths at base width 64)."""
    return arch in TORCHVISION and width == 1


def torchvision_keys(state: dict, reverse: bool = False) -> dict:
    """The encoder's state dict under torchvision's keys (reverse: from torchvision's to the suite's)."""
    out = {}
    for key, value in state.items():
        if reverse:
            key = re.sub(r"^layer(\d)\.", lambda m: f"stages.{int(m[1]) - 1}.", key)
            key = key.replace(".downsample.", ".shortcut.")
            key = re.sub(r"^conv1\.", "stem.0.", re.sub(r"^bn1\.", "stem.1.", key))
        else:
            key = re.sub(r"^stages\.(\d)\.", lambda m: f"layer{int(m[1]) + 1}.", key)
            for pattern, new in _OURS:
                key = re.sub(pattern, new, key)
        out[key] = value
    return out


def h_dim(arch: str, width: float) -> int:
    """The width of h: the last stage's channels (simclr.models.ResNet's rounding) times the expansion."""
    kind, _, base = RESNETS[arch]
    return max(1, round(base * width * 8)) * (4 if kind == "bottleneck" else 1)


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_weights(state: dict, out: Path) -> None:
    """.safetensors (no code runs when it is read) or .pt (torch.save of a plain state dict)."""
    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    if out.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(out))
    else:
        torch.save(state, out)


def load_weights(path: str | Path) -> dict:
    if str(path).endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


def load_encoder(encoder: torch.nn.Module, path: str | Path) -> None:
    """Outside weights into the suite's encoder: a torchvision-format ResNet state dict (its classifier
    fc dropped) or the suite's own keys; every tensor must fit, or the error names what does not."""
    state = load_weights(path)
    if "conv1.weight" in state:  # torchvision's keys (its own weights, an export, a converted checkpoint)
        state = torchvision_keys({k: v for k, v in state.items() if not k.startswith("fc.")}, reverse=True)
    state = {k.removeprefix("encoder."): v for k, v in state.items() if not k.startswith("head.")}
    try:
        encoder.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"encoder.weights={path} does not fit this encoder (check encoder.arch, encoder.width "
                         f"and encoder.stem): {' '.join(str(err).split())[:400]}") from None


def check_weights(cfg) -> None:
    """Refuse outside weights that do not fit the config's encoder, before any work (a study checks
    every arm's before its first run)."""
    from simclr.models import build_model

    load_encoder(build_model(cfg, 10).encoder, cfg.encoder.weights)


def export(run_dir: str | Path, out: str | Path, head: bool = False) -> dict:
    """Write the run's encoder (and with `head`, g) to `out` and its description to out + .json."""
    run_dir, out = Path(run_dir), Path(out)
    if out.suffix not in (".safetensors", ".pt"):
        raise ValueError(f"{out}: name the output .safetensors or .pt")
    if not (run_dir / "model.pt").exists():
        raise FileNotFoundError(f"{run_dir} has no model.pt: only a completed run can be exported "
                                "(python studies/run.py <study> --status lists them)")
    cfg = from_dict(json.loads((run_dir / "config.json").read_text()))
    model = torch.load(run_dir / "model.pt", map_location="cpu", weights_only=True)
    encoder = {k.removeprefix("encoder."): v for k, v in model.items() if k.startswith("encoder.")}
    e = cfg.encoder
    ours = not torchvision_format(e.arch, e.width)
    state = encoder if ours else torchvision_keys(encoder)
    if head:
        state.update({k: v for k, v in model.items() if k.startswith("head.")})
    out.parent.mkdir(parents=True, exist_ok=True)
    save_weights(state, out)
    described = {
        "run_id": cfg.run_id, "run_dir": str(run_dir.resolve()), "arch": e.arch, "width": e.width, "stem": e.stem,
        "keys": "simclr.models.ResNet" if ours else f"torchvision.models.{e.arch}",
        "cifar_stem_changes": None if e.stem != "cifar" or ours else
        "conv1 = Conv2d(3, 64, 3, 1, 1, bias=False); maxpool = Identity()",
        "input": f"RGB in [0, 1], then torchvision's Normalize(**normalize) (encoder.input_norm={e.input_norm})",
        "normalize": NORMALIZE[e.input_norm],
        "h_dim": h_dim(e.arch, e.width), "head": head, "file": out.name, "sha256": sha256(out),
    }
    Path(str(out) + ".json").write_text(json.dumps(described, indent=2) + "\n")
    return described


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simclr.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="a completed run's directory (holds model.pt and config.json)")
    parser.add_argument("out", help="OUT.safetensors or OUT.pt")
    parser.add_argument("--head", action="store_true", help="add the projection head g under head. keys")
    args = parser.parse_args(argv)
    try:
        described = export(args.run_dir, args.out, args.head)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(described, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
