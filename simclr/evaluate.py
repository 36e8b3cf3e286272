"""Evaluations of a pretrained encoder. Each is pure and returns dict[str, float] (accuracies in %).

- knn: weighted k-nearest neighbours on h (cosine similarity, votes weighted by exp(sim / t)).
- linear: linear probe on frozen, cached h of un-augmented images (features standardized with the
  training mean/std, which a linear classifier absorbs); Nesterov SGD, cosine, no weight decay.
- online: the classifier trained on stop-gradient(h) during pretraining, on the test set.
- finetune: the whole encoder + a new linear layer trained on a fixed class-balanced label subset; or
  from the projection head's first k layers, trained with it (SimCLRv2).
- transform probe (Table 3): an MLP predicting which transformation was applied, from h and from g(h).
- on_z (Figure 8): kNN and linear probe on z = g(h) as well as on h.
- transfer (Table 8): linear probe (and optionally fine-tuning) of h on other data sets.
"""
from __future__ import annotations

import copy
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from simclr import augment, views
from simclr import device as devices
from simclr.config import online_head
from simclr.models import head_layers
from simclr.data import InMemory, label_subset, transfer_splits
from simclr.optim import lr_at, scaled_lr, set_lr
from simclr.train import autocast, grad_scaler


@torch.no_grad()
def extract(encoder: nn.Module, images: torch.Tensor, device, precision: str = "fp32",
            batch_size: int = 512, channels_last: bool = False, head: nn.Module | None = None):
    """h (and z = g(h) when a head is given) in eval mode, as float32 CPU tensors.

    images: uint8 (converted to [0,1]) or float views already in [0,1], or a FolderStream.
    """
    encoder.eval()
    if head is not None:
        head.eval()
    hs, zs = [], []
    if isinstance(images, torch.Tensor):
        chunks = (images[i:i + batch_size] for i in range(0, len(images), batch_size))
    else:  # a FolderStream: decoded by its workers, in file order
        chunks = (x for x, _ in images.batches(batch_size, 0, 0, drop_last=False, shuffle=False))
    for x in chunks:
        x = x.to(device)
        x = augment.to_float(x) if x.dtype == torch.uint8 else x
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            h = encoder(x)
            if head is not None:
                zs.append(head(h).float().cpu())
        hs.append(h.float().cpu())
    return (torch.cat(hs), torch.cat(zs)) if head is not None else torch.cat(hs)


@torch.no_grad()
def knn_accuracy(train_h, train_y, test_h, test_y, num_classes: int, k: int = 200,
                 temperature: float = 0.1, chunk: int = 1024) -> float:
    """Weighted kNN top-1 (%): cosine neighbours among the training features, votes exp(sim/t)."""
    train_h = F.normalize(train_h.float(), dim=1)
    test_h = F.normalize(test_h.float(), dim=1)
    k = min(k, len(train_h))
    correct = 0
    for i in range(0, len(test_h), chunk):
        sim, idx = (test_h[i:i + chunk] @ train_h.T).topk(k, dim=1)
        votes = torch.zeros(len(sim), num_classes, device=sim.device).scatter_add_(
            1, train_y[idx], (sim / temperature).exp())
        correct += (votes.argmax(1) == test_y[i:i + chunk]).sum().item()
    return 100.0 * correct / len(test_h)


def train_classifier(net: nn.Module, train_x, train_y, epochs: int, lr: float, batch_size: int,
                     seed: int, weight_decay: float = 0.0) -> nn.Module:
    """Nesterov SGD (momentum 0.9), lr scaled per 256 examples, cosine per step, on cached inputs."""
    g = torch.Generator().manual_seed(seed)
    batch_size = min(batch_size, len(train_x))
    steps_per_epoch = max(1, len(train_x) // batch_size)
    total = epochs * steps_per_epoch
    peak = scaled_lr(lr, batch_size, "linear")
    opt = torch.optim.SGD(net.parameters(), lr=peak, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    net.train()
    step = 0
    for _ in range(epochs):
        order = torch.randperm(len(train_x), generator=g)
        for b in range(steps_per_epoch):
            idx = order[b * batch_size:(b + 1) * batch_size]
            set_lr(opt, lr_at(step, total, 0, peak))
            loss = F.cross_entropy(net(train_x[idx]), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    return net.eval()


@torch.no_grad()
def accuracy(net: nn.Module, x, y, chunk: int = 4096, k: int = 1) -> float:
    """Top-k accuracy (%): the label is among the k largest logits."""
    net.eval()

    def hits(logits, labels):
        if k == 1:
            return (logits.argmax(1) == labels).sum().item()
        return (logits.topk(k, 1).indices == labels[:, None]).any(1).sum().item()

    return 100.0 * sum(hits(net(x[i:i + chunk]), y[i:i + chunk]) for i in range(0, len(x), chunk)) / len(x)


def _standardize(train_x, test_x):
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    return (train_x - mean) / std, (test_x - mean) / std


def linear_probe(train_h, train_y, test_h, test_y, num_classes: int, epochs: int = 90, lr: float = 0.1,
                 batch_size: int = 256, seed: int = 0) -> float:
    """Top-1 (%) of a linear classifier trained on frozen features."""
    train_x, test_x = _standardize(train_h, test_h)
    torch.manual_seed(seed)
    net = nn.Linear(train_x.shape[1], num_classes).to(train_x.device)  # initialised on the CPU: same weights
    net = train_classifier(net, train_x, train_y, epochs, lr, batch_size, seed)
    return accuracy(net, test_x, test_y)


def finetune(model, splits, fraction: float, epochs: int, lr: float, batch_size: int, device,
             precision: str, seed: int, crop_scale=(0.08, 1.0), head_layers: int = 0) -> dict[str, float]:
    """Fine-tune a copy of the encoder plus a new linear layer on a fixed label subset; test top-1 (%)
    as "acc" and, with more than 5 classes, top-5 (%) as "top5_acc" (Table 7 reports both).
    Views: random resized crop (area crop_scale, the pretraining recipe's) + flip. head_layers=k keeps
    the projection head's first k layers under the new linear layer and trains them too (SimCLRv2
    fine-tunes from the first layer of its 3-layer head)."""
    encoder = copy.deepcopy(model.encoder).to(device)
    dim = encoder.dim
    if head_layers:
        kept = copy.deepcopy(list(model.head.blocks)[:head_layers])
        encoder, dim = nn.Sequential(encoder, *kept).to(device), kept[-1][0].out_features
    torch.manual_seed(seed)
    net = nn.Sequential(encoder, nn.Linear(dim, splits.num_classes)).to(device)
    idx = label_subset(splits.train_labels, fraction, seed=0)
    subset = InMemory(splits.train_images[idx], splits.train_labels[idx])
    batch_size = min(batch_size, len(subset))
    peak = scaled_lr(lr, batch_size, "linear")
    opt = torch.optim.SGD(net.parameters(), lr=peak, momentum=0.9, nesterov=True)
    precision = devices.precision(device, precision)  # "auto" resolved once, not every step
    scaler = grad_scaler(device, precision)
    spe = subset.steps_per_epoch(batch_size)
    total, step = epochs * spe, 0
    g = devices.generator(device, seed)
    ops = views.crop_flip_ops(crop_scale)
    net.train()
    for epoch in range(epochs):
        for images, labels in subset.batches(batch_size, epoch, seed):
            set_lr(opt, lr_at(step, total, 0, peak))
            x = views.apply_ops(augment.to_float(images.to(device)), ops, g)
            with autocast(device, precision):
                logits = net(x)
            loss = F.cross_entropy(logits.float(), labels.to(device))
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            step += 1
    net.eval()
    test_h = extract(encoder, splits.test_images, device, precision)
    head = copy.deepcopy(net[1]).cpu().float()
    out = {"acc": accuracy(head, test_h, splits.test_labels)}
    if splits.num_classes > 5:
        out["top5_acc"] = accuracy(head, test_h, splits.test_labels, k=5)
    return out


# Table 3's transformations: op and its apply probability (which sets the random-guess rate)
PROBE_TASKS = {
    "color_vs_grayscale": ("grayscale", 0.2),
    "rotation": ("rotate", None),  # 0/90/180/270 uniformly: 4 labels
    "noise": ("noise", 0.5),
    "sobel": ("sobel", 0.5),
}


def _transformed(images: torch.Tensor, task: str, g: torch.Generator):
    """Apply task's transformation to a random subset; return (images float, labels)."""
    name, p = PROBE_TASKS[task]
    x = augment.to_float(images)
    sample, apply = augment.OPS[name]
    if name == "rotate":  # label 0 = not rotated, so 4 balanced labels
        k = torch.randint(0, 4, (len(x),), generator=g, device=x.device)
        return apply(x, {"k": k, "apply": k > 0}), k
    params = sample(x.shape, g, p=p)
    return apply(x, params), params["apply"].long()


def transform_probe(model, splits, device, precision: str, epochs: int, seed: int,
                    max_train: int = 10000) -> dict[str, float]:
    """Table 3: accuracy (%) of an MLP predicting the applied transformation from h and from g(h)."""
    out = {}
    for t_i, task in enumerate(PROBE_TASKS):
        g = torch.Generator().manual_seed(seed + t_i)
        tr_x, tr_y = _transformed(splits.train_images[:max_train], task, g)
        te_x, te_y = _transformed(splits.test_images, task, g)
        feats = {split: extract(model.encoder, x, device, precision, head=model.head)
                 for split, x in (("train", tr_x), ("test", te_x))}
        n_labels = int(tr_y.max()) + 1
        out[f"probe_{task}_chance"] = 100.0 * max(int((te_y == c).sum()) for c in range(n_labels)) / len(te_y)
        for rep, j in (("h", 0), ("gh", 1)):
            train_x, test_x, train_y, test_y = _placed(device, *_standardize(feats["train"][j], feats["test"][j]),
                                                       tr_y, te_y)
            torch.manual_seed(seed)  # initialised on the CPU: the same weights on any device
            mlp = nn.Sequential(nn.Linear(train_x.shape[1], 512), nn.ReLU(), nn.Linear(512, n_labels))
            mlp = train_classifier(mlp.to(train_x.device), train_x, train_y, epochs, 0.1, 256, seed)
            out[f"probe_{task}_{rep}"] = accuracy(mlp, test_x, test_y)
    return out


def _placed(device, *tensors) -> list[torch.Tensor]:
    """Cached features and labels on the run's GPU where they fit (device.for_features: 90 probe epochs
    over ImageNet's h take hours on a CPU), else left on the CPU."""
    where = devices.for_features(device, sum(t.nelement() * t.element_size() for t in tensors))
    return [t.to(where) for t in tensors]


def evaluate(cfg, model, splits, device) -> dict[str, float]:
    """Every evaluation the config asks for."""
    ev, t = cfg.eval, cfg.train
    out: dict[str, float] = {}
    train_h = extract(model.encoder, splits.train_images, device, t.precision, channels_last=t.channels_last)
    test_h = extract(model.encoder, splits.test_images, device, t.precision, channels_last=t.channels_last)
    reps = {"": (train_h, test_h)}
    if ev.on_z:  # z = g(h), the projection head's output (Figure 8 compares it with h)
        reps["_z"] = tuple(_project(model.head, h, device) for h in (train_h, test_h))
    for tag, (tr, te) in reps.items():
        tr, te, train_y, test_y = _placed(device, tr, te, splits.train_labels, splits.test_labels)
        if ev.knn:
            out[f"knn{tag}_acc"] = knn_accuracy(tr, train_y, te, test_y, splits.num_classes, ev.knn_k,
                                                ev.knn_temperature)
        if ev.linear:
            out[f"linear{tag}_acc"] = linear_probe(tr, train_y, te, test_y, splits.num_classes, ev.linear_epochs,
                                                   ev.linear_lr, ev.linear_batch_size, cfg.seed)
    if online_head(cfg) or t.method == "supervised":
        key = "supervised_acc" if t.method == "supervised" else "online_acc"
        out[key] = accuracy(copy.deepcopy(model.classifier).cpu().float(), test_h, splits.test_labels)
    for fraction in ev.finetune_fractions:
        epochs = ev.finetune_epochs or (60 if fraction <= 0.01 else 30)
        for depth in ev.finetune_head_layers:
            tuned = finetune(model, splits, fraction, epochs, ev.finetune_lr, ev.finetune_batch_size, device,
                             t.precision, cfg.seed, recipe_crop_scale(cfg), depth)
            tag = f"head{depth}_" if depth else ""
            out.update({f"finetune_{fraction:g}_{tag}{k}": v for k, v in tuned.items()})
    if ev.transform_probe:
        out.update(transform_probe(model, splits, device, t.precision, ev.probe_epochs, cfg.seed))
    for spec in ev.transfer:
        out.update(transfer(cfg, model, spec, device))
    return out


def recipe_crop_scale(cfg) -> tuple[float, float]:
    """The crop area range of the pretraining recipe (its first crop op), else the paper's (0.08, 1)."""
    a = cfg.augment
    crop = next((o for o in (*a.shared, *a.view1) if o.name == "crop"), None)
    return tuple(crop.kwargs()["scale"]) if crop else (0.08, 1.0)


@torch.no_grad()
def _project(head: nn.Module, h: torch.Tensor, device, batch_size: int = 4096) -> torch.Tensor:
    """z = g(h) in eval mode, from cached h (float32, CPU)."""
    head.eval()
    return torch.cat([head(h[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(h), batch_size)])


def transfer_name(spec: str) -> str:
    """A transfer target's name in metric keys: "cifar100", or "folder_<folder name>" for "folder:/path"."""
    return spec.partition(":")[0] if not spec.startswith("folder:") else "folder_" + Path(spec[7:]).name


def transfer(cfg, model, spec: str, device) -> dict[str, float]:
    """Table 8: linear probe of frozen h on another data set (and, if asked, fine-tuning on all its
    labels), at the pretraining image size. Keys transfer_<name>_linear_acc / _finetune_acc."""
    ev, t = cfg.eval, cfg.train
    target = transfer_splits(spec, cfg.data)
    name = transfer_name(spec)
    tr = extract(model.encoder, target.train_images, device, t.precision, channels_last=t.channels_last)
    te = extract(model.encoder, target.test_images, device, t.precision, channels_last=t.channels_last)
    tr, te, train_y, test_y = _placed(device, tr, te, target.train_labels, target.test_labels)
    out = {f"transfer_{name}_linear_acc": linear_probe(tr, train_y, te, test_y, target.num_classes,
                                                       ev.linear_epochs, ev.linear_lr, ev.linear_batch_size,
                                                       cfg.seed)}
    if ev.transfer_finetune:
        epochs = ev.finetune_epochs or 30
        out[f"transfer_{name}_finetune_acc"] = finetune(model, target, 1.0, epochs, ev.finetune_lr,
                                                        ev.finetune_batch_size, device, t.precision, cfg.seed,
                                                        recipe_crop_scale(cfg))["acc"]
    return out


def knn_monitor(cfg, splits, device):
    """kNN accuracy of the current encoder, for logging during pretraining (the model is left in
    train mode). Tables report the final model; the best epoch is recorded beside it, never instead."""
    def monitor(model) -> dict[str, float]:
        t = cfg.train
        train_h = extract(model.encoder, splits.train_images, device, t.precision, channels_last=t.channels_last)
        test_h = extract(model.encoder, splits.test_images, device, t.precision, channels_last=t.channels_last)
        model.train()
        train_h, train_y, test_h, test_y = _placed(device, train_h, splits.train_labels, test_h, splits.test_labels)
        return {"knn_acc": knn_accuracy(train_h, train_y, test_h, test_y, splits.num_classes, cfg.eval.knn_k,
                                        cfg.eval.knn_temperature)}
    return monitor


def state_fingerprint(module: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every parameter and buffer, to assert a frozen encoder stayed bit-identical."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_unchanged(module: nn.Module, before: dict[str, torch.Tensor]) -> None:
    changed = [k for k, v in module.state_dict().items() if not torch.equal(v, before[k])]
    if changed:
        raise RuntimeError(f"evaluation modified the frozen encoder: {changed[:5]}")


def config_errors(cfg, world_size: int = 1) -> list[str]:
    """The problems of the eval section, each naming its fix."""
    ev, hd = cfg.eval, cfg.head
    e = []
    if ev.knn_k <= 0 or ev.knn_temperature <= 0:
        e.append("eval: knn_k and knn_temperature must be > 0")
    for f in ev.finetune_fractions:
        if not 0 < f <= 1:
            e.append(f"eval.finetune_fractions: {f} is not in (0, 1] (e.g. [0.01, 0.1])")
    if not ev.finetune_head_layers or len(set(ev.finetune_head_layers)) != len(ev.finetune_head_layers):
        e.append(f"eval.finetune_head_layers={list(ev.finetune_head_layers)}: give distinct depths, e.g. [0] "
                 "(from h) or [0, 1] (from h and from the head's first layer, as SimCLRv2)")
    for k in ev.finetune_head_layers:
        if not 0 <= k <= head_layers(hd):
            e.append(f"eval.finetune_head_layers: {k} is not in 0..{head_layers(hd)}, the layers of the "
                     f"projection head (head.kind={hd.kind}, head.layers={hd.layers}); 0 fine-tunes from h")
    for k in ("linear_epochs", "linear_lr", "linear_batch_size", "finetune_lr", "finetune_batch_size", "probe_epochs"):
        if getattr(ev, k) <= 0:
            e.append(f"eval.{k}={getattr(ev, k)}: must be > 0")
    if ev.finetune_epochs < 0 or ev.knn_every_epochs < 0:
        e.append("eval.finetune_epochs and eval.knn_every_epochs must be >= 0")
    return e
