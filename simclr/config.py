"""One run's configuration: frozen dataclasses, loaded from YAML/JSON, overridden with dotted key=value.

Every field carries its unit or scaling rule in a comment. A config is never mutated: derived values
(the scaled learning rate, the number of steps) are computed where they are used. This module is the
schema only (dict conversion, run_id, overrides); it imports no other part of the engine but the op
table. Values are checked by each module against its own registry, gathered by simclr/checks.py, which
raises one `ConfigError` listing every problem before any work starts.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from simclr import ops


class ConfigError(ValueError):
    """A config that cannot run; the message names each problem and how to fix it."""


# Fields marked NOT_HASHED change how a run executes, not what it computes: they stay out of run_id.
NOT_HASHED = {"hash": False}


def _freeze(v):
    if isinstance(v, list | tuple):
        return tuple(_freeze(x) for x in v)
    return v


def _thaw(v):
    if isinstance(v, tuple):
        return [_thaw(x) for x in v]
    return v


@dataclass(frozen=True)
class Op:
    """One augmentation operator of a recipe: its name and parameters (see simclr/augment.py)."""
    name: str
    params: tuple[tuple[str, Any], ...] = ()

    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)


def op(name: str, **params) -> Op:
    """An op with every parameter spelled out (defaults filled in), so equal recipes hash equally."""
    if name in ops.DEFAULTS:
        params = {**ops.DEFAULTS[name], **params}
    return Op(name, tuple(sorted((k, _freeze(v)) for k, v in params.items())))


def simclr_recipe(strength: float = 0.5, blur: bool = False, crop_scale=(0.08, 1.0), flip: bool = True,
                  brightness: str = "additive") -> tuple[Op, ...]:
    """The paper's augmentation as a config's ops (simclr/ops.py's simclr_recipe)."""
    return tuple(op(name, **params) for name, params in
                 ops.simclr_recipe(strength, blur, crop_scale, flip, brightness_mode=brightness))


@dataclass(frozen=True)
class DataConfig:
    name: str = "synthetic"        # synthetic | cifar10 | cifar100 | stl10 | folder | imagenet
    root: str = ""                 # data set directory (torchvision root or ImageFolder tree with train/, test/)
    image_size: int = 32           # side of the square views, pixels
    num_train: int = 5000          # synthetic only: generated training images
    num_test: int = 2000           # synthetic only: generated test images
    seed: int = 0                  # synthetic only: generator seed (the data, not the training)
    clutter: int = 8               # synthetic only: clutter items per image (survive colour distortion, not crops)
    clutter_size: tuple[float, ...] = (0.04, 0.1)  # synthetic only: clutter item size range, fraction of the side
    download: bool = field(default=False, metadata=NOT_HASHED)   # torchvision sets: download when missing
    cache_dir: str = field(default="", metadata=NOT_HASHED)      # decoded-array cache; "" = ~/.cache/simclr
    workers: int = field(default=4, metadata=NOT_HASHED)         # decoding processes for imagenet-style folders
    # folders: a tree with train/ and test/, one folder per class; none: any folder of images (nested or
    # not), no labels: pretraining alone, label-based evaluations only on eval.data
    labels: str = "folders"


@dataclass(frozen=True)
class AugmentConfig:
    """shared ops run once per image, then view1 / view2 ops per branch (empty = identity branch)."""
    shared: tuple[Op, ...] = ()
    view1: tuple[Op, ...] = simclr_recipe()
    view2: tuple[Op, ...] = simclr_recipe()


@dataclass(frozen=True)
class EncoderConfig:
    arch: str = "resnet_tiny"      # resnet18/34/50/101/152, resnet_small (32-256 ch), resnet_tiny (16-128 ch)
    width: float = 1.0             # channel multiplier of every stage (ResNet-50 2x, 4x)
    stem: str = "cifar"            # cifar: 3x3 conv stride 1, no max-pool; imagenet: 7x7 stride 2 + max-pool
    # input normalisation of the views (in [0, 1]) inside the encoder: centred x * 2 - 1 (the suite's);
    # imagenet: torchvision's mean/std (its supervised weights); none: [0, 1] as is (the official SimCLR's)
    input_norm: str = "centred"
    # outside weights to start from: a torchvision-format ResNet state dict (fc dropped) or an export
    # (simclr/export.py); the run's identity is the file's content (weights_sha256), not its path
    weights: str = field(default="", metadata=NOT_HASHED)
    weights_sha256: str = ""


@dataclass(frozen=True)
class HeadConfig:
    kind: str = "mlp"              # none (z = h) | linear | mlp (the paper's nonlinear head)
    layers: int = 2                # linear layers in an mlp head (paper 2, SimCLRv2 3)
    hidden_dim: int = 0            # width of hidden layers; 0 = dim of h
    out_dim: int = 128             # dim of z
    bn: bool = True                # BN after each head layer, as the official code does


@dataclass(frozen=True)
class LossConfig:
    name: str = "nt_xent"          # nt_xent | nt_logistic | margin_triplet
    temperature: float = 0.5       # tau; 0.5 on CIFAR-10, 0.1 on ImageNet (unused by margin_triplet)
    l2_normalize: bool = True      # cosine similarity (True) or raw dot product
    margin: float = 0.4            # margin_triplet only
    semi_hard: bool = False        # semi-hard negative mining (nt_logistic, margin_triplet)
    negatives: str = "all"         # all: 2(N-1) negatives per anchor; other_view: N-1 (Table 4 fairness)


@dataclass(frozen=True)
class OptimConfig:
    name: str = "lars"             # lars | sgd
    lr: float = 1.0                # base lr; linear: lr*B/256, sqrt: lr*sqrt(B), none: lr
                                   # (the paper: 0.3 linear, 0.075 sqrt)
    lr_scaling: str = "linear"     # linear | sqrt | none
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-6     # paper 1e-6 (later TF code 1e-4); never on biases / BN (ndim <= 1)
    trust_coefficient: float = 1e-3  # LARS eta
    warmup_epochs: float = 10.0    # linear warmup, then cosine decay to 0, stepped per optimizer step


@dataclass(frozen=True)
class TrainConfig:
    method: str = "simclr"         # simclr | supervised (cross-entropy on the same views: the baseline)
    batch_size: int = 256          # images per step over all processes (2x views)
    epochs: float = 100.0          # passes over the training set (0: no pretraining, a random-init baseline)
    steps: int = 0                 # if > 0, overrides epochs: total optimizer steps
    online_head: bool = True       # linear classifier on stop-gradient(h) trained alongside
    precision: str = "bf16"        # fp32 | bf16 | fp16 | auto (autocast; loss logits always float32)
    channels_last: bool = True
    bn_groups: int = 1             # 1: global BN over all 2N views; k: per-device BN as on k devices (appendix)
    grad_cache_chunk: int = 0      # views per forward of the gradient cache (0: off): exact loss over the
                                   # whole batch at the memory of one chunk; BN statistics are per chunk
    compile: bool = False          # torch.compile the encoder and the augmentation's fused kernels
    device: str = field(default="auto", metadata=NOT_HASHED)     # auto | cpu | cuda | cuda:N
    # several processes, the same numbers either way: ddp = DistributedDataParallel (gradients all-reduced
    # while backward runs) and SyncBatchNorm on GPUs; allreduce = gradients all-reduced after backward,
    # global BN by autograd all-reduces (simclr/distributed.py); auto = ddp on GPUs where it applies
    data_parallel: str = field(default="auto", metadata=NOT_HASHED)  # auto | ddp | allreduce
    threads: int = field(default=0, metadata=NOT_HASHED)         # CPU threads; 0 = torch default
    checkpoint_every: int = field(default=200, metadata=NOT_HASHED)  # optimizer steps between checkpoints
    log_every: int = field(default=10, metadata=NOT_HASHED)      # steps between log.jsonl lines
    progress: bool = field(default=True, metadata=NOT_HASHED)    # progress bar with ETA on a terminal
    tensorboard: bool = field(default=False, metadata=NOT_HASHED)  # log.jsonl's records to TensorBoard too
    run_name: str = field(default="", metadata=NOT_HASHED)       # TensorBoard's name of the run ("": run_id)


@dataclass(frozen=True)
class EvalConfig:
    knn: bool = True
    knn_k: int = 200
    knn_temperature: float = 0.1   # weights exp(cos/t) of the k neighbours' votes
    knn_every_epochs: int = field(default=0, metadata=NOT_HASHED)  # kNN monitor during pretraining; 0 = off
    linear: bool = True            # linear probe on frozen, cached h (no augmentation)
    linear_epochs: int = 90
    linear_lr: float = 0.1         # per 256 examples (linear scaling), Nesterov SGD, cosine, no weight decay
    linear_batch_size: int = 256
    finetune_fractions: tuple[float, ...] = ()   # e.g. (0.01, 0.1): fine-tune the whole encoder on these labels
    finetune_epochs: int = 0       # 0: the paper's rule, 60 epochs on <= 1 % of labels, 30 above
    finetune_lr: float = 0.05      # per 256 examples, Nesterov SGD, no weight decay, crop+flip views
    finetune_batch_size: int = 256  # capped at the subset's size
    # fine-tune from h (0) and / or from the output of the projection head's first k layers, kept and
    # trained with the encoder (SimCLRv2: 1, of a 3-layer head); k > 0 adds finetune_<f>_head<k>_acc
    finetune_head_layers: tuple[int, ...] = (0,)
    transform_probe: bool = False  # Table 3: predict the applied transformation from h and from g(h)
    on_z: bool = False             # Figure 8: kNN and linear probe on z = g(h) too (knn_z_acc, linear_z_acc)
    transfer: tuple[str, ...] = ()  # Table 8: linear probe of h on other data sets: "cifar100", "folder:/path"
    transfer_finetune: bool = False  # Table 8: also fine-tune the whole encoder on each transfer set
    data: str = ""                 # data.labels=none: the labelled set of kNN, probes, fine-tuning
                                   # ("folder:/path" with train/ and test/, or "cifar10")
    probe_epochs: int = 30


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = DataConfig()
    augment: AugmentConfig = AugmentConfig()
    encoder: EncoderConfig = EncoderConfig()
    head: HeadConfig = HeadConfig()
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    seed: int = 0                  # model init, data order and augmentation randomness

    @property
    def run_id(self) -> str:
        return run_id(self)


# ---------------------------------------------------------------- dict <-> config

def to_dict(cfg, hashed_only: bool = False) -> dict:
    """Plain JSON-able dict; ops become {"op": name, **params}."""
    if isinstance(cfg, Op):
        return {"op": cfg.name, **{k: _thaw(v) for k, v in cfg.params}}
    out = {}
    for f in dataclasses.fields(cfg):
        if hashed_only and not f.metadata.get("hash", True):
            continue
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            out[f.name] = to_dict(v, hashed_only)
        elif isinstance(v, tuple) and v and isinstance(v[0], Op):
            out[f.name] = [to_dict(o) for o in v]
        else:
            out[f.name] = _thaw(v)
    return out


# Bump when a default value changes meaning: run_id hashes only what differs from the defaults, so that
# adding a field (with a default that keeps the old behaviour) leaves every stored run's id unchanged.
# 3: the projection head's last BN learns its scale (the official head). Runs named by an id of a
# version before RESULTS_SINCE were trained by an engine whose results differ: never renamed, never reused.
HASH_VERSION = 3
RESULTS_SINCE = 3


def identity(values: dict, defaults: dict) -> dict:
    """The entries of a (nested) config dict that differ from the defaults."""
    out = {}
    for k, v in values.items():
        if isinstance(v, dict):
            sub = identity(v, defaults.get(k, {}))
            if sub:
                out[k] = sub
        elif k not in defaults or v != defaults[k]:
            out[k] = v
    return out


def run_id(cfg: RunConfig, version: int = HASH_VERSION) -> str:
    """Stable hash of everything that changes what a run computes: the hashed fields that differ from
    their defaults, and the hash version (an earlier one gives the id that version gave the config)."""
    diff = identity(to_dict(cfg, hashed_only=True), to_dict(RunConfig(), hashed_only=True))
    blob = json.dumps({"hash_version": version, **diff}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def earlier_engine(name: str, cfg: RunConfig) -> bool:
    """Whether a stored run's name is the id a version before RESULTS_SINCE gave cfg: a run of an engine
    whose results differ from the current one's (never renamed, reused or counted with current runs)."""
    return name != run_id(cfg) and name in {run_id(cfg, v) for v in range(1, RESULTS_SINCE)}


def _type_ok(value, tp) -> bool:
    origin = typing.get_origin(tp)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin is tuple:
        args = typing.get_args(tp)
        return isinstance(value, list | tuple) and all(_type_ok(x, args[0]) for x in value)
    return True


def _build(cls, d, path: str, errors: list[str]):
    if not isinstance(d, dict):
        errors.append(f"{path or 'config'}: expected a mapping, got {type(d).__name__} {d!r}")
        return cls()
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in d:
        if key not in names:
            errors.append(f"{path}{key}: unknown key; valid keys here: {', '.join(names)}")
    kwargs = {}
    for name in names:
        if name not in d:
            continue
        value, tp = d[name], hints[name]
        if tp is float and isinstance(value, str):  # YAML 1.1 reads 5e-4 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value, f"{path}{name}.", errors)
        elif tp == tuple[Op, ...]:
            kwargs[name] = _build_ops(value, f"{path}{name}", errors)
        elif not _type_ok(value, tp):
            tname = getattr(tp, "__name__", str(tp))
            errors.append(f"{path}{name}: expected {tname}, got {type(value).__name__} {value!r}")
        else:
            kwargs[name] = float(value) if tp is float else _freeze(value)
    return cls(**kwargs)


def _build_ops(value, path: str, errors: list[str]) -> tuple[Op, ...]:
    if not isinstance(value, list | tuple):
        errors.append(f"{path}: expected a list of ops like [{{op: crop}}, {{op: flip}}], got {value!r}")
        return ()
    ops = []
    for i, item in enumerate(value):
        if isinstance(item, Op):
            ops.append(item)
        elif isinstance(item, str):
            ops.append(op(item))
        elif isinstance(item, dict) and isinstance(item.get("op"), str):
            params = {k: v for k, v in item.items() if k != "op"}
            ops.append(op(item["op"], **params))
        else:
            errors.append(f"{path}[{i}]: expected {{op: NAME, param: value, ...}}, got {item!r}")
    return tuple(ops)


def from_dict(d: dict) -> RunConfig:
    """The config a dict describes, its keys and types checked (values are checked by simclr/checks.py)."""
    errors: list[str] = []
    cfg = _build(RunConfig, d, "", errors)
    if errors:
        raise ConfigError(format_errors(errors))
    return cfg


def format_errors(errors: list[str]) -> str:
    return "invalid config:\n  - " + "\n  - ".join(errors)


def choice(path: str, value, options) -> list[str]:
    """The error of a value outside its registry's choices (none when it is one of them)."""
    if value in options:
        return []
    return [f"{path}={value!r}: unknown; choose one of {', '.join(map(str, options))}"]


# ---------------------------------------------------------------- files and overrides

def parse_value(text: str):
    """A command-line value: YAML scalar or flow collection ('0.5', 'true', '[0.01, 0.1]', '{op: flip}')."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value


def apply_override(d: dict, dotted: str, value) -> None:
    """Set d[a][b]... for 'a.b=...'; a numeric part indexes a list (augment.view1.2.strength=1.0)."""
    parts = dotted.split(".")
    node = d
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            raise ConfigError(f"override {dotted}: {'.'.join(parts[:i + 1])} is not a section")
    last = parts[-1]
    if isinstance(node, list):
        if not (last.isdigit() and int(last) < len(node)):
            raise ConfigError(f"override {dotted}: index {last} is outside a list of {len(node)}")
        node[int(last)] = value
    else:
        node[last] = value


def load(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Defaults <- YAML/JSON file <- 'key=value' overrides (keys and types checked)."""
    d = to_dict(RunConfig())
    if path:
        if not Path(path).is_file():
            raise ConfigError(f"config file {path} does not exist; pass a .yaml or .json file, or only "
                              "key=value overrides")
        text = Path(path).read_text()
        try:  # safe_load: a config builds plain values only, never Python objects
            loaded = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
        except (yaml.YAMLError, json.JSONDecodeError) as err:
            raise ConfigError(f"config file {path} is not valid {'JSON' if str(path).endswith('.json') else 'YAML'}"
                              f" (python tags are refused): {' '.join(str(err).split())}; fix the file, "
                              "e.g. `loss: {temperature: 0.5}`") from err
        _merge(d, loaded or {}, "")
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. loss.temperature=0.2")
        key, text = item.split("=", 1)
        apply_override(d, key.strip(), parse_value(text))
    return from_dict(d)


def _merge(base: dict, new: dict, path: str) -> None:
    if not isinstance(new, dict):
        raise ConfigError(f"{path or 'config file'}: expected a mapping, got {new!r}")
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v, f"{path}{k}.")
        else:
            base[k] = v


def replace(cfg: RunConfig, **dotted) -> RunConfig:
    """A new config with dotted fields changed (keys and types checked): replace(cfg, **{'loss.temperature': 0.1})."""
    d = to_dict(cfg)
    for key, value in dotted.items():
        apply_override(d, key, value)
    return from_dict(d)


def labelled(cfg: RunConfig) -> bool:
    """Whether the pretraining images have labels (the online head trains only then)."""
    return cfg.data.labels != "none"


def online_head(cfg: RunConfig) -> bool:
    """Whether the online linear classifier trains: asked for, and labels to train it on."""
    return cfg.train.online_head and labelled(cfg)


def steps_per_epoch(num_train: int, batch_size: int) -> int:
    return max(1, num_train // batch_size)  # drop_last: every step sees a full batch of negatives


def total_steps(cfg: RunConfig, num_train: int) -> int:
    t = cfg.train
    return t.steps if t.steps > 0 else math.ceil(t.epochs * steps_per_epoch(num_train, t.batch_size))
