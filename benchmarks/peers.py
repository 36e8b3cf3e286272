"""Our pretraining pipeline against lightly's and kornia's, side by side in one process.

    python -m venv /tmp/peers && /tmp/peers/bin/pip install torch==2.14.1 torchvision==0.29.1 lightly kornia \
        pandas pyyaml tqdm
    /tmp/peers/bin/python benchmarks/peers.py configs/cpu_cifar10.yaml data.root=unused --steps 10

(lightly and kornia live in that benchmark environment only.) The same encoder + projection head,
optimizer, batch, image size, precision and memory format for every pipeline; the augmentation is the
config's: random resized crop (0.08-1), flip, colour jitter of strength s with p 0.8, grayscale 0.2.

  ours        the engine's step: batched augmentation of the uint8 batch + forward + NT-Xent + backward + step
  lightly     SimCLRTransform per PIL image in a DataLoader (num_workers 0 and 2, the better kept) +
              lightly's NTXentLoss, same forward/backward/step
  kornia      kornia.augmentation's equivalent pipeline on the float batch, in place of ours
Also the augmentation alone (ours vs kornia), and kornia's colour ops on fixed parameters against
torchvision's (the oracle our own ops are tested against). Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from simclr import allocator, config, losses
from simclr.checks import validate
from simclr.models import build_model
from simclr.optim import build_optimizer
from simclr.provenance import environment
from simclr.train import autocast, loss_params, make_views


def rate(step, batch: int, steps: int, warmup: int) -> float:
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t0)


def strength(cfg) -> float:
    return next(o.kwargs()["strength"] for o in cfg.augment.view1 if o.name == "color_jitter")


def crop_scale(cfg) -> tuple[float, float]:
    return tuple(next((o.kwargs().get("scale", (0.08, 1.0)) for o in cfg.augment.view1 if o.name == "crop"),
                      (0.08, 1.0)))


def kornia_pipeline(size: int, s: float, scale: tuple[float, float]):
    import kornia.augmentation as K

    return K.AugmentationSequential(
        K.RandomResizedCrop((size, size), scale=scale), K.RandomHorizontalFlip(),
        K.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s, p=0.8), K.RandomGrayscale(p=0.2))


def colour_exactness() -> dict:
    """Max |kornia - torchvision| on fixed factors (images in [0, 1])."""
    import kornia.enhance as KE
    import torchvision.transforms.v2.functional as TF

    x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    # the functions kornia's ColorJitter applies (its docstring: torchvision's definitions)
    pairs = {"brightness": (lambda: KE.adjust_brightness_accumulative(x, 1.3), lambda: TF.adjust_brightness(x, 1.3)),
             "contrast": (lambda: KE.adjust_contrast_with_mean_subtraction(x, 1.4), lambda: TF.adjust_contrast(x, 1.4)),
             "saturation": (lambda: KE.adjust_saturation_with_gray_subtraction(x, 0.6),
                            lambda: TF.adjust_saturation(x, 0.6)),
             "hue": (lambda: KE.adjust_hue(x, 0.1 * 2 * torch.pi), lambda: TF.adjust_hue(x, 0.1))}
    return {k: float((a() - b()).abs().max()) for k, (a, b) in pairs.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat the whole comparison; figures are medians over rounds (this CPU's speed drifts)")
    args = ap.parse_args()
    from lightly.loss import NTXentLoss
    from lightly.transforms import SimCLRTransform
    from PIL import Image

    cfg = validate(config.load(args.config, args.overrides))
    t, B, S, s, scale = cfg.train, cfg.train.batch_size, cfg.data.image_size, strength(cfg), crop_scale(cfg)
    device = torch.device("cpu")
    malloc = allocator.keep_freed_memory()  # for every pipeline measured in this process alike
    if t.threads:
        torch.set_num_threads(t.threads)
    fmt = torch.channels_last if t.channels_last else torch.contiguous_format
    n = B * (args.steps + args.warmup + 1)
    images = torch.randint(0, 256, (n, 3, S, S), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    model = build_model(cfg, 10).to(memory_format=fmt)
    opt = build_optimizer(cfg, model, B)
    g = torch.Generator().manual_seed(0)

    def train_step(x, loss_fn):
        with autocast(device, t.precision):
            _, z, _ = model(x.contiguous(memory_format=fmt))
        loss = loss_fn(*z.float().chunk(2))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    ours_loss = lambda a, b: losses.contrastive_loss(cfg.loss.name, a, b, **loss_params(cfg))
    batches = iter(range(10 ** 9))
    batch = lambda: images[(next(batches) * B) % (n - B):][:B]
    kpipe = kornia_pipeline(S, s, scale)
    kornia_views = lambda x: torch.cat([kpipe(x), kpipe(x)])
    transform = SimCLRTransform(input_size=S, cj_strength=s, min_scale=scale[0], gaussian_blur=0.0, normalize=None)
    pil = [Image.fromarray(im.permute(1, 2, 0).numpy()) for im in images]

    class Data(torch.utils.data.Dataset):
        def __len__(self):
            return len(pil)

        def __getitem__(self, i):
            return transform(pil[i]), 0

    lightly_loss = NTXentLoss(temperature=cfg.loss.temperature)

    def lightly_rate(workers: int) -> float:
        # a fresh loader each round, its start-up inside the warm-up steps
        loader = iter(torch.utils.data.DataLoader(Data(), batch_size=B, shuffle=True, drop_last=True,
                                                  num_workers=workers, persistent_workers=workers > 0))

        def lightly_step():
            (v1, v2), _ = next(loader)
            train_step(torch.cat([v1, v2]), lightly_loss)

        return rate(lightly_step, B, args.steps, args.warmup)

    timed = {"ours": lambda: rate(lambda: train_step(torch.cat(make_views(cfg, batch(), g)), ours_loss), B,
                                  args.steps, args.warmup),
             "kornia": lambda: rate(lambda: train_step(kornia_views(batch().float() / 255), ours_loss), B,
                                    args.steps, args.warmup),
             "lightly_0": lambda: lightly_rate(0), "lightly_2": lambda: lightly_rate(2),
             "aug_ours": lambda: rate(lambda: make_views(cfg, batch(), g), B, args.steps, args.warmup),
             "aug_kornia": lambda: rate(lambda: kornia_views(batch().float() / 255), B, args.steps, args.warmup)}
    rounds = [{k: f() for k, f in timed.items()} for _ in range(args.rounds)]
    med = {k: statistics.median(r[k] for r in rounds) for k in timed}
    ratio = [r["ours"] / max(r["lightly_0"], r["lightly_2"]) for r in rounds]
    ours, kornia, aug_ours, aug_kornia = med["ours"], med["kornia"], med["aug_ours"], med["aug_kornia"]
    lightly = {0: med["lightly_0"], 2: med["lightly_2"]}
    best = max(lightly.values())
    env = environment(cfg.seed, device)
    print(json.dumps({
        "config": args.config, "overrides": args.overrides, "batch_size": B, "image_size": S, "strength": s,
        "precision": t.precision, "channels_last": t.channels_last, "threads": torch.get_num_threads(),
        "malloc": malloc, "ours_images_per_s": ours, "kornia_pipeline_images_per_s": kornia,
        "lightly_images_per_s": {f"workers_{k}": v for k, v in lightly.items()},
        "ours_over_lightly": ours / best, "ours_over_lightly_per_round": ratio, "rounds": args.rounds,
        "crop_scale": list(scale), "augmentation_images_per_s": {"ours": aug_ours, "kornia": aug_kornia},
        "kornia_vs_torchvision_max_abs": colour_exactness(),
        "versions": {m: __import__(m).__version__ for m in ("torch", "lightly", "kornia")},
        "hardware": env["hardware"], "git": env["git"]}))


if __name__ == "__main__":
    main()
