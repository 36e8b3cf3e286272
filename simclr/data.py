"""Data sets as in-memory uint8 tensors (or a decoding loader for big folders), and label subsets.

Everything small lives in memory as uint8 (N, 3, H, W); augmentation happens later, batched on the
training device. Both sources offer the same batch interface, `batches(batch_size, epoch, seed, ...)`,
whose order is a function of (seed, epoch) alone, so a run resumed at epoch e, batch b sees exactly
the batches it would have seen.
"""

import dataclasses
import hashlib
import os
import warnings

import torch
from torchvision.io import ImageReadMode, decode_image, decode_jpeg
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from simclr.config import choice, labelled
from simclr.checkpoint import atomic_torch_save
from simclr.synthetic import SHAPES, synthetic_splits

DATASETS = ("synthetic", "cifar10", "cifar100", "stl10", "folder", "imagenet")
# data.labels: folders = a tree with train/ and test/, one folder per class; none = any images, unlabelled
LABELS = ("folders", "none")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".gif")  # what torchvision.io decodes
_CACHE_FORMAT = 1  # bump when the cached layout changes


class DataError(ValueError):
    """A data set that exists but cannot be used as it is (undecodable files); the message names them."""


@dataclasses.dataclass
class Splits:
    train_images: torch.Tensor  # uint8 (N, 3, H, W), or a FolderStream for 'imagenet'-style folders
    train_labels: torch.Tensor  # int64 (N,)
    test_images: torch.Tensor
    test_labels: torch.Tensor
    num_classes: int
    name: str
    classes: list[str]


def check_data(name: str, root: str = "", image_size: int = 32, num_train: int = 5000,
               num_test: int = 2000) -> None:
    """Raise ValueError for settings that cannot work; touches no files (runs before any work)."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; valid: {', '.join(DATASETS)}")
    if name in ("folder", "imagenet") and not root:
        raise ValueError("data set 'folder' needs data.root: a folder with train/ and test/ (or val/) "
                         "subfolders holding one folder of images per class")
    if image_size < 4:
        raise ValueError(f"image_size must be at least 4, got {image_size}")
    if name == "synthetic" and (num_train < 1 or num_test < 1):
        raise ValueError(f"synthetic data needs num_train and num_test >= 1, got {num_train}, {num_test}")


def load_splits(name: str, root: str = "", image_size: int = 32, num_train: int = 5000, num_test: int = 2000,
                seed: int = 0, cache_dir: str | None = None, download: bool = False, workers: int = 4,
                labels: str = "folders", **synthetic) -> Splits:
    """Train and test sets as uint8 tensors at image_size x image_size.

    num_train, num_test, seed and the keyword arguments of make_synthetic (clutter, clutter_size)
    apply to the generated 'synthetic' set only; the other sets are used whole. An empty root means
    <cache dir>/datasets for the torchvision sets.
    """
    check_data(name, root, image_size, num_train, num_test)
    if labels == "none":
        return unlabelled_splits(name, root, image_size, cache_dir, workers)
    if name == "synthetic":
        x, y, xt, yt = synthetic_splits(num_train, num_test, seed, image_size, **synthetic)
        return Splits(x, y, xt, yt, len(SHAPES), name, list(SHAPES))
    if name == "folder":
        return _load_folder(root, image_size, cache_dir)
    if name == "imagenet":
        return stream_splits(root, image_size, workers)
    return _load_torchvision(name, root or os.path.join(_cache_base(cache_dir), "datasets"), image_size, download)


def check_available(name: str, root: str = "", cache_dir: str = "", download: bool = False,
                    labels: str = "folders") -> None:
    """Fail now, without decoding anything, if a data set cannot be read: a study checks this before
    its first run instead of failing every run in turn."""
    if name == "synthetic":
        return
    if labels == "none":
        _list_images(root)
        return
    if name in ("folder", "imagenet"):
        train, _ = _split_dirs(root)
        if not any(e.is_dir() for e in os.scandir(train)):
            raise FileNotFoundError(f"{train} holds no class folders; expected {train}/<class>/<image files>")
        return
    _load_torchvision(name, root or os.path.join(_cache_base(cache_dir or None), "datasets"), 0, download)


def count_images(root: str, labels: str = "folders") -> int:
    """Training images of an ImageFolder tree, or of an unlabelled folder (a listing, no decoding)."""
    return len(_list_images(root)) if labels == "none" else len(_list_split(_split_dirs(root)[0])[0])


# The built-in set's transfer target: new images (another seed) under a shifted distribution (three times
# the clutter, larger items), the same ten shape classes, as CIFAR-10 -> STL-10 keeps its classes.
SYNTHETIC_TRANSFER = {"seed_offset": 1000, "clutter": 24, "clutter_size": (0.06, 0.15)}


def check_transfer(spec: str, data_cfg) -> None:
    """Fail now if an eval.transfer set cannot be read (downloading it if data.download asks), without
    decoding it: at 224 px a decoded CIFAR set alone would take gigabytes."""
    name, _, root = spec.partition(":")
    if name == "synthetic":
        return
    if name == "folder":
        if not os.path.isdir(os.path.join(root, "train")):
            raise FileNotFoundError(f"eval.transfer {spec!r}: no folder {os.path.join(root, 'train')}")
        return
    _load_torchvision(name, root or os.path.join(_cache_base(data_cfg.cache_dir or None), "datasets"),
                      0, data_cfg.download)


def transfer_splits(spec: str, data_cfg) -> Splits:
    """The data set named by an eval.transfer entry ("cifar100", "folder:/path"), at the pretraining
    image size and with the pretraining data's cache and download settings."""
    name, _, root = spec.partition(":")
    d = data_cfg
    if name == "synthetic":
        s = SYNTHETIC_TRANSFER
        return load_splits(name, image_size=d.image_size, num_train=d.num_train, num_test=d.num_test,
                           seed=d.seed + s["seed_offset"], clutter=s["clutter"], clutter_size=s["clutter_size"])
    return load_splits(name, root=root, image_size=d.image_size, cache_dir=d.cache_dir or None,
                       download=d.download)


# ---- torchvision data sets ----

def _load_torchvision(name: str, root: str, image_size: int, download: bool) -> Splits:
    from torchvision import datasets
    make = {"cifar10": lambda train: datasets.CIFAR10(root, train=train, download=download),
            "cifar100": lambda train: datasets.CIFAR100(root, train=train, download=download),
            "stl10": lambda train: datasets.STL10(root, split="train" if train else "test", download=download)}[name]
    fix = ("pass data.download=true on a machine that is online, or point data.root at an existing copy, "
           "or use data.name=folder with data.root set to an ImageFolder tree (train/ and test/ subfolders)")
    parts = []
    for train in (True, False):
        try:
            ds = make(train)
        except Exception as err:  # downloads fail in many ways offline (URLError, timeouts, checksums)
            if download:
                raise RuntimeError(f"could not download data set {name!r} into {os.path.abspath(root)} "
                                   f"({type(err).__name__}: {err}); {fix}") from err
            if isinstance(err, RuntimeError):  # torchvision's "Dataset not found or corrupted"
                raise FileNotFoundError(f"data set {name!r} not found under {os.path.abspath(root)}; {fix}") from err
            raise
        if not image_size:  # an existence check: opened, not converted
            continue
        data = torch.from_numpy(ds.data)
        images = data if name == "stl10" else data.permute(0, 3, 1, 2)  # CIFAR arrays are NHWC
        labels = torch.as_tensor(ds.labels if name == "stl10" else ds.targets, dtype=torch.int64)
        parts += [_fit(images.contiguous(), image_size), labels]
    if not image_size:
        return None
    return Splits(*parts, num_classes=len(ds.classes), name=name, classes=list(ds.classes))


def _fit(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize a uint8 batch so the shorter side is `size`, then centre-crop to size x size."""
    if images.shape[-2:] == (size, size):
        return images
    out = [TF.center_crop(TF.resize(images[i:i + 1024], [size], antialias=True), [size, size])
           for i in range(0, len(images), 1024)]
    return torch.cat(out)


# ---- ImageFolder trees ----

def _list_split(split_dir: str, classes: list[str] | None = None) -> tuple[list[str], list[int], list[str]]:
    """Image paths and labels under split_dir/<class>/; class order is sorted names (or `classes`)."""
    found = sorted(e.name for e in os.scandir(split_dir) if e.is_dir())
    classes = classes if classes is not None else found
    index = {c: i for i, c in enumerate(classes)}
    unknown = [c for c in found if c not in index]
    if unknown:
        raise ValueError(f"{split_dir} has class folders missing from the training split: {unknown[:5]}")
    paths, labels = [], []
    for c in found:
        for dirpath, dirnames, filenames in os.walk(os.path.join(split_dir, c), followlinks=True):
            dirnames.sort()
            for f in sorted(filenames):
                if f.lower().endswith(IMAGE_EXTENSIONS):
                    paths.append(os.path.join(dirpath, f))
                    labels.append(index[c])
    if not paths:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) under {split_dir}/<class>/")
    return paths, labels, classes


def _split_dirs(root: str) -> tuple[str, str]:
    train, test, val = (os.path.join(root, s) for s in ("train", "test", "val"))
    if not os.path.isdir(train) or not (os.path.isdir(test) or os.path.isdir(val)):
        raise FileNotFoundError(f"data.root={os.path.abspath(root)} must hold train/ and test/ (or val/) "
                                "subfolders with one folder of images per class")
    return train, test if os.path.isdir(test) else val


def _decode_files(paths: list[str]) -> list[torch.Tensor]:
    """Decode to RGB uint8 (3, H, W) tensors; JPEGs go through one batched call (the fast path).
    Files that do not decode are all named in one error, so a damaged folder is fixed in one pass."""
    data = []
    for p in paths:
        with open(p, "rb") as f:
            data.append(torch.frombuffer(bytearray(f.read()), dtype=torch.uint8))
    jpeg = [i for i, d in enumerate(data) if len(d) > 2 and d[0] == 0xFF and d[1] == 0xD8]
    out = [None] * len(data)
    try:
        for i, img in zip(jpeg, decode_jpeg([data[i] for i in jpeg], mode=ImageReadMode.RGB) if jpeg else []):
            out[i] = img
    except RuntimeError:  # one bad file fails the batch: decode one by one to find it
        pass
    bad = []
    for i, d in enumerate(data):
        if out[i] is not None:
            continue
        if not len(d):
            bad.append(f"{paths[i]} (empty file)")
            continue
        try:
            out[i] = decode_image(d, mode=ImageReadMode.RGB)
        except RuntimeError as err:
            bad.append(f"{paths[i]} ({str(err).splitlines()[0][:80]})")
    if bad:
        raise DataError(f"{len(bad)} of {len(paths)} image files cannot be decoded: {'; '.join(bad[:5])}"
                         f"{' ...' if len(bad) > 5 else ''}. Remove or replace them, then rerun")
    return out


def _stack(images: list[torch.Tensor], size: int) -> torch.Tensor:
    """Stack to (N, 3, size, size), resizing images of each other shape as one batch."""
    by_shape: dict[tuple, list[int]] = {}
    for i, img in enumerate(images):
        by_shape.setdefault(tuple(img.shape), []).append(i)
    if len(by_shape) == 1:
        return _fit(torch.stack(images), size)
    out = torch.empty(len(images), 3, size, size, dtype=torch.uint8)
    for idx in by_shape.values():
        out[idx] = _fit(torch.stack([images[i] for i in idx]), size)
    return out


def _cache_base(cache_dir: str | None) -> str:
    return cache_dir or os.environ.get("SIMCLR_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "simclr")


def _cache_path(root: str, image_size: int, paths: list[str], cache_dir: str | None,
                kind: str = "folder") -> tuple[str, str]:
    """(path, prefix): the prefix names the kind (folder: train/ and test/ splits; images: every image,
    no labels), the tree and the size; the rest changes whenever a file is added, removed, renamed,
    resized or touched, so a changed tree is decoded again."""
    root = os.path.abspath(root)
    h = hashlib.sha256(f"{_CACHE_FORMAT}|{kind}|{root}|{image_size}|{len(paths)}".encode())
    for p in paths:
        st = os.stat(p)
        h.update(f"|{p}|{st.st_size}|{st.st_mtime_ns}".encode())
    tree = hashlib.sha256(root.encode()).hexdigest()[:8]
    prefix = f"{kind}-{os.path.basename(root) or 'root'}-{tree}-{image_size}px-"
    return os.path.join(_cache_base(cache_dir), prefix + h.hexdigest()[:16] + ".pt"), prefix


def _cached(root: str, image_size: int, paths: list[str], cache_dir: str | None, build, kind: str = "folder") -> dict:
    """The decoded arrays of a tree: from the cache when its files have not changed, else build() saved."""
    path, prefix = _cache_path(root, image_size, paths, cache_dir, kind)
    if os.path.exists(path):
        try:
            return torch.load(path, weights_only=True)
        except Exception as err:  # a cache is disposable: rebuild it, but say so
            warnings.warn(f"ignoring unreadable cache {path} ({err}); decoding {root} again")
    d = build()
    atomic_torch_save(path, d)
    for old in os.listdir(os.path.dirname(path)):  # earlier versions of this tree: stale, and large
        if old.startswith(prefix) and old.endswith(".pt") and old != os.path.basename(path):
            os.unlink(os.path.join(os.path.dirname(path), old))
    return d


def _load_folder(root: str, image_size: int, cache_dir: str | None) -> Splits:
    train_dir, test_dir = _split_dirs(root)
    train_paths, train_labels, classes = _list_split(train_dir)
    test_paths, test_labels, _ = _list_split(test_dir, classes)
    d = _cached(root, image_size, train_paths + test_paths, cache_dir, lambda: {
        "train_images": _stack(_decode_files(train_paths), image_size),
        "train_labels": torch.tensor(train_labels, dtype=torch.int64),
        "test_images": _stack(_decode_files(test_paths), image_size),
        "test_labels": torch.tensor(test_labels, dtype=torch.int64),
        "classes": classes})
    return Splits(d["train_images"], d["train_labels"], d["test_images"], d["test_labels"],
                  len(d["classes"]), "folder", list(d["classes"]))


def _list_images(root: str) -> list[str]:
    """Every image under root at any depth, in a fixed (sorted) order: an unlabelled folder."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"data.root={os.path.abspath(root)} is not a folder (data.labels=none reads "
                                "every image under it)")
    paths = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        paths += [os.path.join(dirpath, f) for f in sorted(filenames) if f.lower().endswith(IMAGE_EXTENSIONS)]
    if not paths:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) under {os.path.abspath(root)}")
    return paths


def unlabelled_splits(name: str, root: str, image_size: int, cache_dir: str | None = None,
                      workers: int = 4) -> Splits:
    """data.labels=none: every image under root for pretraining, with label 0 and no test split (the
    evaluations read eval.data); decoded into memory (folder) or streamed (imagenet)."""
    if name == "imagenet":
        train = FolderStream(root, None, image_size, train=False, workers=workers)
        images = train
    else:
        paths = _list_images(root)
        images = _cached(root, image_size, paths, cache_dir,
                         lambda: {"train_images": _stack(_decode_files(paths), image_size)}, "images")["train_images"]
    empty = torch.empty(0, 3, image_size, image_size, dtype=torch.uint8)
    return Splits(images, torch.zeros(len(images), dtype=torch.int64), empty, torch.empty(0, dtype=torch.int64),
                  1, name, [])


def _mix(*parts: int) -> int:
    """A 63-bit seed from integers, stable across processes and machines (unlike hash())."""
    return int.from_bytes(hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()) >> 1


def _order(n: int, batch_size: int, epoch: int, seed: int, drop_last: bool, shuffle: bool) -> list[torch.Tensor]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    g = torch.Generator().manual_seed(_mix(seed, epoch))
    idx = torch.randperm(n, generator=g) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    return list(idx[:stop].split(batch_size))


def _shard(order: list[torch.Tensor], shard: tuple[int, int] | None) -> list[torch.Tensor]:
    """(rank, world): this process's rows of every global batch, as distributed.rows splits a batch."""
    return order if shard is None or shard[1] == 1 else [idx.chunk(shard[1])[shard[0]] for idx in order]


class _Labelled:
    """What both image sources share: a length (their labels') and the batches an epoch makes."""

    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def steps_per_epoch(self, batch_size: int, drop_last: bool = True) -> int:
        return len(self) // batch_size if drop_last else -(-len(self) // batch_size)


class InMemory(_Labelled):
    """Images (uint8, on any device) and labels, served in batches in a (seed, epoch)-determined order."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels = images, labels

    def batches(self, batch_size: int, epoch: int, seed: int, drop_last: bool = True, shuffle: bool = True,
                start: int = 0, shard: tuple[int, int] | None = None):
        """Yield (images, labels) batches of this epoch, from batch number `start` on (for resuming);
        with shard=(rank, world), only that process's rows of each global batch."""
        for idx in _shard(_order(len(self), batch_size, epoch, seed, drop_last, shuffle)[start:], shard):
            yield self.images[idx.to(self.images.device)], self.labels[idx.to(self.labels.device)]


class _Decode:
    """Map-style dataset for FolderStream: key (index, item seed) -> (uint8 (3, S, S), label)."""

    def __init__(self, paths, labels, size, train, scale, ratio, crop_fraction, views=1, stacked=False,
                 after=()):
        self.paths, self.labels, self.size, self.train, self.views = paths, labels, size, train, views
        self.stacked = stacked or views > 1
        crop = v2.RandomResizedCrop(size, scale=scale, ratio=ratio, interpolation=v2.InterpolationMode.BICUBIC,
                                    antialias=True)
        self.crop = v2.Compose([crop, *map(_per_image, after)]) if after else crop
        self.resize_to = round(size / crop_fraction)

    def __getitem__(self, key):
        i, item_seed = key
        img = decode_image(self.paths[i], mode=ImageReadMode.RGB)
        if self.train:
            # The crop draws from torch's global generator; seed it per image so the result does not
            # depend on which worker decodes the image or in what order.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(item_seed)
                crops = [self.crop(img) for _ in range(self.views)]
            img = torch.stack(crops) if self.stacked else crops[0]  # (views, 3, S, S)
        else:
            img = TF.center_crop(TF.resize(img, [self.resize_to], antialias=True), [self.size, self.size])
        return img, self.labels[i]


def _per_image(op) -> v2.Transform:
    """A recipe op that the loader runs after the crop, on each uint8 image (views.decoded_prefix)."""
    name, params = op
    if name == "flip":
        return v2.RandomHorizontalFlip(params.get("p", 0.5))
    if name == "autoaugment":
        policy = v2.AutoAugment(v2.AutoAugmentPolicy(params.get("policy", "imagenet")))
        p = params.get("p", 1.0)
        return policy if p >= 1 else v2.RandomApply([policy], p)  # p = 1 draws nothing more
    raise ValueError(f"the loader runs crop, flip and autoaugment only, not {name!r}")


def _collate(items):
    return torch.stack([img for img, _ in items]), torch.tensor([y for _, y in items], dtype=torch.int64)


class FolderStream(_Labelled):
    """An image-folder split too big for memory, decoded by `workers` processes while training runs.

    train=True: random resized crop at decode time, from the full-resolution image (the other
    augmentations run batched on the device); with views=2, two independent crops per image, batches
    of uint8 (B, 2, 3, S, S): the two views' crops (stacked=True with views=1: (B, 1, 3, S, S)).
    train=False: resize to size / crop_fraction and centre-crop, for evaluation, uint8 (B, 3, S, S).
    Labels int64; order and crops are a function of (seed, epoch).
    """

    def __init__(self, root: str, split: str | None = "train", image_size: int = 224, train: bool = True,
                 workers: int = 4, scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), crop_fraction: float = 0.875, views: int = 1,
                 stacked: bool = False, after=()):
        if split is None:  # data.labels=none: every image under root, label 0
            paths = _list_images(root)
            labels, self.classes = [0] * len(paths), []
        else:
            split_dir = os.path.join(root, split)
            if not os.path.isdir(split_dir):
                raise FileNotFoundError(f"no split folder {os.path.abspath(split_dir)} (expected "
                                        f"{split}/<class>/<image> under data.root)")
            classes = None
            if split != "train" and os.path.isdir(os.path.join(root, "train")):
                classes = sorted(e.name for e in os.scandir(os.path.join(root, "train")) if e.is_dir())
            paths, labels, self.classes = _list_split(split_dir, classes)
        self.labels = torch.tensor(labels, dtype=torch.int64)
        self.workers = workers
        self._dataset = _Decode(paths, labels, image_size, train, scale, ratio, crop_fraction, views, stacked,
                                after)
        self._keys = _Keys()
        self._loader = None  # made at the first epoch; its workers then serve every later one

    def batches(self, batch_size: int, epoch: int, seed: int, drop_last: bool = True, shuffle: bool = True,
                start: int = 0, shard: tuple[int, int] | None = None):
        # each process decodes only its rows; an image's crop seed depends on the image, not the process
        order = _shard(_order(len(self), batch_size, epoch, seed, drop_last, shuffle)[start:], shard)
        base = _mix(seed, epoch, "crop")
        # lazy: ImageNet is large
        self._keys.batches = ([(i, _mix(base, i)) for i in idx.tolist()] for idx in order)
        if self._loader is None:
            # persistent workers: an epoch does not start 16 processes and re-import torch in each; pinned
            # batches copy to a GPU asynchronously (the step's .to(device, non_blocking=True))
            self._loader = torch.utils.data.DataLoader(
                self._dataset, batch_sampler=self._keys, num_workers=self.workers, collate_fn=_collate,
                pin_memory=torch.cuda.is_available(), persistent_workers=self.workers > 0)
        yield from self._loader


class _Keys:
    """The batch sampler of a FolderStream's loader: the batches of (image, crop seed) keys of the epoch
    being read, set before each pass (the loader's workers, kept between epochs, only decode)."""

    def __init__(self):
        self.batches = iter(())

    def __iter__(self):
        return self.batches


# ---- label subsets ----

def label_subset(labels: torch.Tensor, fraction: float, seed: int = 0) -> torch.Tensor:
    """Sorted indices of a class-balanced, reproducible subset with `fraction` of each class.

    Per class c with n_c examples, the subset keeps floor(fraction * n_c + 0.5) of them (proportional,
    so balanced sets stay balanced and imbalanced ones keep their proportions). Which ones: the first
    in a per-class random order fixed by (labels, seed) alone, so subsets are nested: the 1% subset
    lies inside the 10% one of the same seed.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    labels = torch.as_tensor(labels, dtype=torch.int64).cpu()
    n = len(labels)
    if fraction == 1.0:
        return torch.arange(n)
    g = torch.Generator().manual_seed(int(seed))
    order = torch.randperm(n, generator=g)
    order = order[torch.argsort(labels[order], stable=True)]  # grouped by class, random within
    counts = torch.bincount(labels)
    take = torch.floor(fraction * counts.double() + 0.5).long()
    empty = ((counts > 0) & (take == 0)).nonzero().flatten()
    if len(empty):
        c = int(empty[0])
        raise ValueError(f"label fraction {fraction} keeps no example of class {c} ({int(counts[c])} examples); "
                         f"use a fraction of at least {0.5 / int(counts[counts > 0].min()):.2g}")
    first = torch.cumsum(counts, 0) - counts
    cls = labels[order]
    rank = torch.arange(n) - first[cls]
    return torch.sort(order[rank < take[cls]]).values


def stream_splits(root: str, image_size: int, workers: int = 4) -> Splits:
    """An ImageNet-style tree decoded on the fly: Splits whose image fields are FolderStreams that
    resize to image_size / 0.875 and centre-crop (the evaluation protocol). Pretraining reads the
    train split through `pretraining_stream` instead, which crops the views from the full image.
    """
    train = FolderStream(root, "train", image_size, train=False, workers=workers)
    test_split = "val" if os.path.isdir(os.path.join(root, "val")) else "test"
    test = FolderStream(root, test_split, image_size, train=False, workers=workers)
    return Splits(train, train.labels, test, test.labels, len(train.classes), "imagenet", train.classes)


def pretraining_stream(root: str, image_size: int, crop: dict, workers: int = 4, views: int = 2,
                       after=(), labelled: bool = True) -> FolderStream:
    """Train split decoded with random resized crops from the full-resolution image, as the paper does,
    with the parameters of the recipe's crop op (scale, ratio): views=2, one crop per view, batches
    (B, 2, 3, S, S); views=1, the one shared crop of Figure 5's protocol, batches (B, 1, 3, S, S).
    `after`: the (name, params) ops that follow the crop in the loader (flip, autoaugment), per image.
    labelled=False: every image under root (data.labels=none), not the train split's class folders."""
    return FolderStream(root, "train" if labelled else None, image_size, train=True, workers=workers,
                        scale=tuple(crop["scale"]),
                        ratio=tuple(crop["ratio"]), views=views, stacked=True, after=after)


def config_errors(cfg, world_size: int = 1) -> list[str]:
    """The problems of the data section and of what the data set allows the rest of a run to do."""
    d, ev, a = cfg.data, cfg.eval, cfg.augment
    e = choice("data.name", d.name, DATASETS) + choice("data.labels", d.labels, LABELS)
    if d.name in ("folder", "imagenet") and not d.root:
        e.append(f"data.root: data.name={d.name} needs data.root=/path/to/tree (with train/ and test/)")
    for k in ("num_train", "num_test"):
        if getattr(d, k) <= 0:
            e.append(f"data.{k}={getattr(d, k)}: must be > 0")
    if d.clutter < 0 or len(d.clutter_size) != 2 or not 0 < d.clutter_size[0] <= d.clutter_size[1] <= 1:
        e.append("data.clutter must be >= 0 and data.clutter_size a range (lo, hi) with 0 < lo <= hi <= 1")
    if d.image_size < 4:
        e.append(f"data.image_size={d.image_size}: must be >= 4 pixels")
    if d.name == "synthetic" and cfg.train.batch_size > d.num_train:
        e.append(f"train.batch_size={cfg.train.batch_size} exceeds data.num_train={d.num_train}")
    if d.name == "imagenet":
        shared_crop = bool(a.shared) and a.shared[0].name == "crop"
        view_crops = not a.shared and a.view1 and a.view2 and a.view1[0].name == "crop" and a.view2[0] == a.view1[0]
        if not (shared_crop or view_crops):
            e.append("augment: with data.name=imagenet the crops are made while decoding, from the full image: "
                     "either augment.shared starts with a crop op, or it is empty and both views start with "
                     "the same crop op")
        if ev.finetune_fractions or ev.transform_probe:
            e.append("eval: fine-tuning and the transformation probe need in-memory data; with "
                     "data.name=imagenet set eval.finetune_fractions=[] and eval.transform_probe=false")
    for key, spec in [("eval.transfer", s) for s in ev.transfer] + ([("eval.data", ev.data)] if ev.data else []):
        name, _, root = spec.partition(":")
        if name not in DATASETS or name == "imagenet":
            e.append(f"{key}: {spec!r} names no in-memory data set; use one of "
                     f"{', '.join(n for n in DATASETS if n != 'imagenet')}, a folder as 'folder:/path'")
        elif name == "folder" and not root:
            e.append(f"{key}: {spec!r} needs its tree, e.g. 'folder:/data/pets' (train/ and test/ inside)")
    return e + _unlabelled_errors(cfg)


def _unlabelled_errors(cfg) -> list[str]:
    """What a run without labels (data.labels=none) cannot do, and where labels must come from."""
    d, ev = cfg.data, cfg.eval
    if labelled(cfg):
        if ev.data:
            return ["eval.data names the labelled set of a run whose pretraining images have none: set "
                    "data.labels=none, or drop eval.data (a labelled run evaluates on its own test split)"]
        return []
    e = []
    if d.name not in ("folder", "imagenet"):
        e.append(f"data.labels=none reads a folder of images: data.name=folder (decoded into memory) or "
                 f"imagenet (streamed), not {d.name}")
    if cfg.train.method == "supervised":
        e.append("train.method=supervised needs labels: data.labels=none has none")
    needs = [k for k, on in (("eval.finetune_fractions", ev.finetune_fractions),
                             ("eval.transform_probe", ev.transform_probe),
                             ("eval.knn_every_epochs", ev.knn_every_epochs)) if on]
    if needs and not ev.data:
        e.append(f"{', '.join(needs)} need labelled images: name them with eval.data=folder:/path "
                 "(train/ and test/, one folder per class), or drop the evaluation")
    return e
