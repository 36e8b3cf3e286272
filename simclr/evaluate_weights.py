"""Weights in: the suite's evaluations (kNN, linear probe, fine-tuning, transfer) of an outside encoder.

    python -m simclr.evaluate_weights WEIGHTS [config.yaml] [key=value ...] [--arch A] [--stem S]
                                      [--input-norm N] [--results DIR]

WEIGHTS: a torchvision-format ResNet state dict (.pt/.pth or .safetensors; torchvision's own supervised
weights, a converted official SimCLR checkpoint, another library's export, `python -m simclr.export`'s
output) or an export under the suite's keys. The run is an ordinary run with no pretraining (train.steps
0, no online head): it lands in the result store like any other, named by the config and the file's
sha256, so a study's table can put the outside encoder beside the suite's own runs. --input-norm says
what the weights expect of an image in [0, 1]: imagenet (torchvision's mean/std), none (the official
SimCLR code's [0, 1]), centred (x * 2 - 1, the suite's own runs and exports).
"""
from __future__ import annotations

import argparse
import os
import sys

from simclr.__main__ import main as run_main
from simclr.export import sha256


def overrides(path: str, arch: str = "", stem: str = "", input_norm: str = "") -> dict:
    """Config keys that make a run evaluate the weights file at `path` (which must exist): named by its
    absolute path and sha256, with no pretraining and no online head."""
    path = os.path.abspath(path)
    chosen = {"encoder.arch": arch, "encoder.stem": stem, "encoder.input_norm": input_norm}
    return {**{k: v for k, v in chosen.items() if v}, "encoder.weights": path, "encoder.weights_sha256": sha256(path),
            "train.steps": 0, "train.epochs": 0, "train.online_head": False}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simclr.evaluate_weights", description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", help="a ResNet state dict: .pt, .pth or .safetensors")
    parser.add_argument("items", nargs="*", help="an optional config file, then key=value overrides (data, eval)")
    parser.add_argument("--arch", help="encoder.arch of the weights, e.g. resnet50")
    parser.add_argument("--stem", choices=("cifar", "imagenet"), help="encoder.stem (torchvision's: imagenet)")
    parser.add_argument("--input-norm", choices=("centred", "imagenet", "none"), help="encoder.input_norm")
    parser.add_argument("--results", default="results/runs", help="result store directory")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.weights):
        print(f"error: {args.weights}: no such file (a .pt, .pth or .safetensors state dict)", file=sys.stderr)
        return 2
    keys = overrides(args.weights, args.arch or "", args.stem or "", args.input_norm or "")
    items = args.items + [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in keys.items()]
    return run_main(items + ["--results", args.results])


if __name__ == "__main__":
    sys.exit(main())
