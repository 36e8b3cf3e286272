"""The streaming data path of a preset (ImageNet's by default): JPEG decode and random resized crop in
the loader's worker processes, then the copy of each batch to the device, as a run's steps get them.

    python benchmarks/data_path.py imagenet [key=value ...] [--data-root DIR] [--batches 20]

DIR holds train/<class>/<image>; without it, a stand-in folder of JPEGs at ImageNet's typical size
(500x375, quality 90) is written to a temporary directory. Measured, after --warmup batches (default:
the loader's prefetch, 2 per worker, and 2 more, so the timed batches come at the workers' pace): images/s of the loader alone (decode + two crops + collate, data.workers processes) and of
the loader with the copy to the device (pinned memory, non_blocking, synchronised per batch). An image
is one training example: both views' crops. Prints one JSON line with the provenance.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from torchvision.io import encode_jpeg

from benchmarks.throughput import load
from simclr import device as devices
from simclr.data import pretraining_stream
from simclr.provenance import environment


def stand_in_folder(root: Path, count: int, size=(375, 500), classes: int = 10) -> Path:
    """`count` JPEGs of size (H, W) in `classes` class folders: 16 distinct smooth images, written round
    robin (decoding cost depends on the size and quality, not on which picture it is)."""
    g = torch.Generator().manual_seed(0)
    jpegs = []
    for _ in range(16):
        coarse = torch.randint(0, 256, (1, 3, size[0] // 8, size[1] // 8), generator=g).float()
        img = torch.nn.functional.interpolate(coarse, size=size, mode="bilinear")[0].to(torch.uint8)
        jpegs.append(encode_jpeg(img, quality=90).numpy().tobytes())
    for i in range(count):
        folder = root / "train" / f"c{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}.jpg").write_bytes(jpegs[i % len(jpegs)])
    return root


def images_per_s(stream, batch_size: int, epoch: int, batches: int, warmup: int, copy) -> float:
    it = stream.batches(batch_size, epoch, seed=0)
    for _ in range(warmup):
        copy(next(it)[0])
    t0 = time.perf_counter()
    for _ in range(batches):
        copy(next(it)[0])
    return batches * batch_size / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config", nargs="?", default="imagenet", help="a preset name or a config file")
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--data-root", default="", help="a folder with train/<class>/<image> (default: stand-in JPEGs)")
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--stand-in-size", type=int, nargs=2, default=(375, 500), metavar=("H", "W"))
    args = ap.parse_args()
    cfg = load(args.config, args.overrides)
    device = devices.resolve(cfg.train.device)
    B, epochs = cfg.train.batch_size, 2  # epoch 0: the loader alone; epoch 1: with the copy
    if args.warmup is None:
        args.warmup = 2 * cfg.data.workers + 2
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data_root or str(stand_in_folder(Path(tmp), (args.batches + args.warmup) * B,
                                                     tuple(args.stand_in_size)))
        stream = pretraining_stream(root, cfg.data.image_size, cfg.augment.view1[0].kwargs(), cfg.data.workers)
        if len(stream) < (args.batches + args.warmup) * B:
            raise SystemExit(f"{root} holds {len(stream)} training images; --batches {args.batches} + --warmup "
                             f"{args.warmup} at batch {B} need {(args.batches + args.warmup) * B}")

        def to_device(x):
            x.to(device, non_blocking=True)
            if device.type == "cuda":
                torch.cuda.synchronize(device)

        decode = images_per_s(stream, B, 0, args.batches, args.warmup, lambda x: None)
        copied = images_per_s(stream, B, epochs - 1, args.batches, args.warmup, to_device)
    result = {"config": args.config, "overrides": args.overrides, "batch_size": B,
              "image_size": cfg.data.image_size, "workers": cfg.data.workers, "batches": args.batches,
              "source": args.data_root or f"stand-in JPEGs {args.stand_in_size[1]}x{args.stand_in_size[0]} q90",
              "pinned": torch.cuda.is_available(), "decode_images_per_s": decode,
              "decode_copy_images_per_s": copied, "device": str(device)}
    env = environment(cfg.seed, device)
    result.update(hardware=env["hardware"], git=env["git"], packages=env["packages"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
