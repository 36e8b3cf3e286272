import hashlib
import os
import urllib.error

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.io import encode_jpeg

from simclr import data
from simclr.data import FolderStream, InMemory, check_data, label_subset, load_splits
from simclr.synthetic import make_synthetic, synthetic_splits

# torchvision 0.29 marks its image codecs deprecated (in favour of TorchCodec); they still work.
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")


# ---- synthetic ----

def test_synthetic_deterministic_and_well_formed():
    x, y = make_synthetic(300, seed=7)
    x2, y2 = make_synthetic(300, seed=7)
    x3, _ = make_synthetic(300, seed=8)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, x3)
    assert x.shape == (300, 3, 32, 32) and x.dtype == torch.uint8
    assert y.dtype == torch.int64 and y.min() == 0 and y.max() == 9
    assert torch.equal(torch.bincount(y), torch.full((10,), 30))
    assert x.min() < 20 and x.max() > 235  # spans the range
    small, ys = make_synthetic(35, seed=0, size=24, num_classes=4)
    assert small.shape == (35, 3, 24, 24) and torch.bincount(ys).tolist() == [9, 9, 9, 8]


def test_synthetic_pinned_checksum():
    # Results elsewhere were made with this generator: a change to it must be deliberate (then update
    # this value). Also bit-identical across ATEN_CPU_CAPABILITY=default/avx2/avx512 and thread counts.
    x, y = make_synthetic(64, seed=0)
    digest = hashlib.sha256(x.numpy().tobytes() + y.numpy().tobytes()).hexdigest()
    assert digest == "4d8f5ed3254e5cf3b6d35af748f76fa8c482d1f004392874f6af90330453b0c0"


def test_synthetic_splits_differ_and_bad_arguments():
    x, y, xt, yt = synthetic_splits(100, 50, seed=0)
    assert x.shape[0] == 100 and xt.shape[0] == 50
    assert not torch.equal(x[:50], xt)
    with pytest.raises(ValueError, match="num_classes"):
        make_synthetic(10, 0, num_classes=11)


def test_synthetic_noise_level():
    # Same seed with and without noise: same picture, so the difference is the noise (away from clipping).
    clean, _ = make_synthetic(200, seed=1, noise=0.0)
    noisy, _ = make_synthetic(200, seed=1)
    diff = (noisy.float() - clean.float()) / 255
    assert 0.025 < diff[(clean >= 20) & (clean <= 235)].std() < 0.035


def _random_crops(x, g, c=20):
    n, s = x.shape[0], x.shape[-1]
    i = torch.randint(0, s - c + 1, (n, 1), generator=g) + torch.arange(c)
    j = torch.randint(0, s - c + 1, (n, 1), generator=g) + torch.arange(c)
    return x[torch.arange(n)[:, None, None, None], torch.arange(3)[None, :, None, None],
             i[:, None, :, None], j[:, None, None, :]]


def _colour_histogram(x, bins=4):
    q = x.long() * bins // 256
    code = (q[:, 0] * bins + q[:, 1]) * bins + q[:, 2]
    h = torch.zeros(x.shape[0], bins ** 3).scatter_add_(1, code.flatten(1), torch.ones(code.flatten(1).shape))
    return h / h.sum(1, keepdim=True)


def test_synthetic_colour_identifies_image_not_class():
    # Paper Figure 6: two crops of one image have nearly the same colour histogram.
    x, _ = make_synthetic(500, seed=3)
    g = torch.Generator().manual_seed(0)
    a, b = _colour_histogram(_random_crops(x, g)), _colour_histogram(_random_crops(x, g))
    own = (torch.cdist(a, b, p=1).argmin(1) == torch.arange(500)).float().mean()
    assert own > 0.8  # chance: 1/500
    # ...but colour says nothing about the class: nearest class centroid of the mean colour.
    x, y, xt, yt = synthetic_splits(2000, 1000, seed=3)
    mean, mean_t = x.float().mean((2, 3)), xt.float().mean((2, 3))
    centroids = torch.stack([mean[y == c].mean(0) for c in range(10)])
    acc = (torch.cdist(mean_t, centroids).argmin(1) == yt).float().mean()
    assert acc < 0.16  # chance: 0.10


def test_synthetic_class_lives_in_shape():
    # Centred renderings (random scale, rotation, colours, clutter): 1-NN on grayscale pixels with the
    # sign of the contrast removed (foreground may be darker or lighter than the background).
    def features(x):
        gray = x.float().mean(1).flatten(1)
        gray = gray - gray.mean(1, keepdim=True)
        return gray / gray.norm(dim=1, keepdim=True)
    x, y = make_synthetic(1500, seed=5, centred=True)
    xt, yt = make_synthetic(400, seed=6, centred=True)
    nearest = (features(xt) @ features(x).T).abs().argmax(1)
    assert (y[nearest] == yt).float().mean() > 0.5  # chance: 0.10


# ---- folder ----

def _write_tree(root, splits=("train", "test"), classes=("cat", "dog", "eel"), per_class=3, size=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    for split in splits:
        for c in classes:
            os.makedirs(root / split / c, exist_ok=True)
            for k in range(per_class):
                img = torch.randint(0, 256, (3, size, size), generator=g, dtype=torch.uint8)
                img = torch.nn.functional.avg_pool2d(img[None].float(), 3, 1, 1)[0].to(torch.uint8)  # JPEG-friendly
                (root / split / c / f"{k}.jpg").write_bytes(encode_jpeg(img, quality=95).numpy().tobytes())


def test_folder_round_trip(tmp_path):
    _write_tree(tmp_path / "tree")
    s = load_splits("folder", root=str(tmp_path / "tree"), image_size=20, cache_dir=str(tmp_path / "cache"))
    assert s.classes == ["cat", "dog", "eel"] and s.num_classes == 3
    assert s.train_images.shape == (9, 3, 20, 20) and s.train_images.dtype == torch.uint8
    assert s.train_labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] and s.test_labels.dtype == torch.int64
    pil = np.asarray(Image.open(tmp_path / "tree" / "train" / "dog" / "1.jpg").convert("RGB"))
    ours = s.train_images[4].permute(1, 2, 0).numpy()
    assert np.abs(ours.astype(int) - pil.astype(int)).mean() < 2  # decoders may differ by rounding
    resized = load_splits("folder", root=str(tmp_path / "tree"), image_size=8, cache_dir=str(tmp_path / "cache"))
    assert resized.test_images.shape == (9, 3, 8, 8)


def test_folder_cache_hit_and_invalidation(tmp_path, monkeypatch):
    tree, cache = tmp_path / "tree", str(tmp_path / "cache")
    _write_tree(tree, splits=("train", "val"))
    calls = []
    decode = data._decode_files
    monkeypatch.setattr(data, "_decode_files", lambda paths: calls.append(len(paths)) or decode(paths))
    first = load_splits("folder", root=str(tree), image_size=20, cache_dir=cache)
    assert len(calls) == 2 and len(os.listdir(cache)) == 1
    monkeypatch.setattr(data, "_decode_files", lambda paths: pytest.fail("decoded although cached"))
    second = load_splits("folder", root=str(tree), image_size=20, cache_dir=cache)
    assert torch.equal(first.train_images, second.train_images) and second.classes == first.classes
    _write_tree(tmp_path / "more", splits=("train",), classes=("dog",), per_class=1, seed=1)
    os.replace(tmp_path / "more" / "train" / "dog" / "0.jpg", tree / "train" / "dog" / "9.jpg")
    monkeypatch.setattr(data, "_decode_files", decode)
    third = load_splits("folder", root=str(tree), image_size=20, cache_dir=cache)
    assert third.train_images.shape[0] == 10 and third.train_labels.tolist().count(1) == 4
    assert len(os.listdir(cache)) == 1  # the stale entry is gone


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="train/ and test/"):
        load_splits("folder", root=str(tmp_path / "absent"), cache_dir=str(tmp_path))
    (tmp_path / "empty" / "train" / "a").mkdir(parents=True)
    (tmp_path / "empty" / "test" / "a").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no images"):
        load_splits("folder", root=str(tmp_path / "empty"), cache_dir=str(tmp_path))


def test_folder_stream(tmp_path):
    _write_tree(tmp_path, splits=("train", "val"), per_class=4, size=40)
    stream = FolderStream(str(tmp_path), "train", image_size=16, workers=0, scale=(0.2, 1.0))
    assert len(stream) == 12 and stream.steps_per_epoch(5) == 2 and stream.steps_per_epoch(5, False) == 3
    batches = list(stream.batches(5, epoch=0, seed=1))
    assert len(batches) == 2 and batches[0][0].shape == (5, 3, 16, 16) and batches[0][0].dtype == torch.uint8
    workers = FolderStream(str(tmp_path), "train", image_size=16, workers=2, scale=(0.2, 1.0))
    again = list(workers.batches(5, epoch=0, seed=1))  # same crops whichever process decodes
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(batches, again))
    other = next(stream.batches(5, epoch=1, seed=1))
    assert not torch.equal(other[0], batches[0][0])
    # the workers persist: the next epochs, one of them left half read (a run stopped mid-epoch), are
    # decoded by the same processes and give the batches a fresh stream gives
    pids = [w.pid for w in workers._loader._iterator._workers]
    assert torch.equal(next(workers.batches(5, epoch=1, seed=1))[0], other[0])
    assert all(torch.equal(a[0], b[0]) for a, b in zip(workers.batches(5, epoch=0, seed=1), batches))
    assert [w.pid for w in workers._loader._iterator._workers] == pids
    # each of 2 processes decodes only its rows of every batch, with the crops of the whole-batch stream
    pair = FolderStream(str(tmp_path), "train", image_size=16, workers=0, scale=(0.2, 1.0), views=2)
    whole = list(pair.batches(6, epoch=0, seed=1))
    halves = [list(pair.batches(6, epoch=0, seed=1, shard=(r, 2))) for r in range(2)]
    for b, (h0, h1) in enumerate(zip(*halves)):
        assert len(h0[0]) == len(h1[0]) == 3 and h0[0].shape[1:] == (2, 3, 16, 16)
        assert torch.equal(torch.cat([h0[0], h1[0]]), whole[b][0]) and torch.equal(torch.cat([h0[1], h1[1]]), whole[b][1])
    evaluation = FolderStream(str(tmp_path), "val", image_size=16, train=False, workers=0)
    images, labels = next(evaluation.batches(12, 0, 0, drop_last=False, shuffle=False))
    assert images.shape == (12, 3, 16, 16) and labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4


# ---- torchvision sets and names ----

@pytest.mark.parametrize("name", ["cifar10", "cifar100", "stl10"])
def test_torchvision_missing_files_explain_the_fix(tmp_path, name):
    with pytest.raises(FileNotFoundError) as err:
        load_splits(name, root=str(tmp_path))
    msg = str(err.value)
    assert name in msg and str(tmp_path) in msg
    assert "data.download=true" in msg and "data.root" in msg and "data.name=folder" in msg


def test_torchvision_arrays_become_nchw_uint8(monkeypatch):
    from torchvision import datasets

    class FakeCIFAR:  # what torchvision's CIFAR10 exposes: NHWC uint8 numpy and a list of labels
        classes = ["a", "b"]

        def __init__(self, root, train, download):
            n = 6 if train else 4
            self.data = np.arange(n * 32 * 32 * 3, dtype=np.int64).reshape(n, 32, 32, 3).astype(np.uint8)
            self.targets = [i % 2 for i in range(n)]

    class FakeSTL:  # NCHW uint8 numpy at 96 px and a numpy label array
        classes = ["a", "b", "c"]

        def __init__(self, root, split, download):
            self.data = np.full((3, 3, 96, 96), 200, dtype=np.uint8)
            self.labels = np.array([0, 1, 2])
    monkeypatch.setattr(datasets, "CIFAR10", FakeCIFAR)
    monkeypatch.setattr(datasets, "STL10", FakeSTL)
    s = load_splits("cifar10", root="unused")
    assert s.train_images.shape == (6, 3, 32, 32) and s.test_images.shape == (4, 3, 32, 32)
    assert s.train_images.dtype == torch.uint8 and s.train_labels.dtype == torch.int64
    assert torch.equal(s.train_images[1].permute(1, 2, 0), torch.from_numpy(FakeCIFAR("", True, False).data[1]))
    assert s.num_classes == 2 and s.classes == ["a", "b"] and s.name == "cifar10"
    stl = load_splits("stl10", root="unused", image_size=32)
    assert stl.train_images.shape == (3, 3, 32, 32) and (stl.train_images == 200).all()
    assert stl.train_labels.tolist() == [0, 1, 2] and stl.num_classes == 3


def test_torchvision_download_failure_offline(tmp_path, monkeypatch):
    from torchvision import datasets

    def offline(self):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(datasets.CIFAR10, "download", offline)
    with pytest.raises(RuntimeError, match="could not download data set 'cifar10'.*data.root"):
        load_splits("cifar10", root=str(tmp_path), download=True)


def test_check_data_and_synthetic_splits():
    with pytest.raises(ValueError, match="unknown data set 'imagenet2'.*synthetic, cifar10"):
        check_data("imagenet2")
    with pytest.raises(ValueError, match="data.root"):
        check_data("folder", root="")
    s = load_splits("synthetic", num_train=40, num_test=20, seed=3)
    assert s.train_images.shape == (40, 3, 32, 32) and s.test_labels.shape == (20,) and s.num_classes == 10
    assert len(s.classes) == 10 and s.name == "synthetic"


# ---- label subsets ----

def test_label_subset_balanced_reproducible_nested():
    labels = torch.arange(1000) % 10
    labels = labels[torch.randperm(1000, generator=torch.Generator().manual_seed(0))]
    ten = label_subset(labels, 0.1, seed=0)
    one = label_subset(labels, 0.01, seed=0)
    assert torch.equal(torch.bincount(labels[ten]), torch.full((10,), 10))
    assert torch.equal(torch.bincount(labels[one]), torch.ones(10, dtype=torch.int64))
    assert torch.equal(ten, label_subset(labels.clone(), 0.1, seed=0))
    assert torch.equal(ten, torch.sort(ten).values) and len(ten.unique()) == 100
    assert set(one.tolist()) <= set(ten.tolist())  # nested
    assert not torch.equal(ten, label_subset(labels, 0.1, seed=1))
    assert torch.equal(label_subset(labels, 1.0), torch.arange(1000))
    imbalanced = torch.tensor([0] * 100 + [1] * 40)
    assert torch.bincount(imbalanced[label_subset(imbalanced, 0.1)]).tolist() == [10, 4]  # proportional


def test_label_subset_errors():
    labels = torch.arange(100) % 10
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="in \\(0, 1\\]"):
            label_subset(labels, bad)
    with pytest.raises(ValueError, match="keeps no example of class"):
        label_subset(labels, 0.01)


# ---- batches ----

def test_in_memory_batches_deterministic_complete_resumable():
    images = torch.arange(23, dtype=torch.uint8)[:, None, None, None].expand(23, 3, 2, 2)
    ds = InMemory(images, torch.arange(23))
    assert len(ds) == 23 and ds.steps_per_epoch(5) == 4 and ds.steps_per_epoch(5, drop_last=False) == 5
    run = [y for _, y in ds.batches(5, epoch=2, seed=0, drop_last=False)]
    assert [len(y) for y in run] == [5, 5, 5, 5, 3]
    assert torch.equal(torch.sort(torch.cat(run)).values, torch.arange(23))
    assert all(torch.equal(a, b) for a, b in zip(run, [y for _, y in ds.batches(5, 2, 0, drop_last=False)]))
    assert not torch.equal(torch.cat(run), torch.cat([y for _, y in ds.batches(5, 3, 0, drop_last=False)]))
    assert not torch.equal(torch.cat(run), torch.cat([y for _, y in ds.batches(5, 2, 1, drop_last=False)]))
    resumed = [y for _, y in ds.batches(5, 2, 0, drop_last=False, start=2)]
    assert all(torch.equal(a, b) for a, b in zip(run[2:], resumed)) and len(resumed) == 3
    x, y = next(ds.batches(4, 0, 0))
    assert torch.equal(x[:, 0, 0, 0].long(), y)  # images and labels stay paired
    assert [len(y) for _, y in ds.batches(5, 0, 0)] == [5] * 4
    assert torch.equal(torch.cat([y for _, y in ds.batches(23, 0, 0, shuffle=False)]), torch.arange(23))
    # shard=(rank, world): a process's rows of every batch, as distributed.rows splits a batch
    for world in (2, 3):
        shards = [list(ds.batches(6, 1, 0, start=1, shard=(r, world))) for r in range(world)]
        whole = list(ds.batches(6, 1, 0, start=1))
        for b, parts in enumerate(zip(*shards)):
            assert [len(y) for _, y in parts] == [6 // world] * world
            assert torch.equal(torch.cat([y for _, y in parts]), whole[b][1])
            assert all(torch.equal(x[:, 0, 0, 0].long(), y) for x, y in parts)


@pytest.mark.parametrize("view1, view2, done", [
    (["crop", "flip", "autoaugment"], None, 3), (["crop", "autoaugment", "blur"], None, 2),
    (["crop", "flip", "color_jitter", "grayscale"], None, 1),      # the SimCLR recipe: the crop only
    (["crop", "color_jitter", "autoaugment"], None, 1),           # a device op before the policy
    (["crop", "flip", "autoaugment"], ["crop", "autoaugment"], 1)])  # views that differ on the way
def test_the_loader_runs_the_crop_and_autoaugment_with_what_is_between(view1, view2, done):
    from simclr.views import decoded_prefix

    ops = lambda names: [(n, {}) for n in names]
    assert decoded_prefix(ops(view1), ops(view2 or view1)) == done


def test_autoaugment_in_the_loader_is_torchvisions_per_image_after_the_crop(tmp_path):
    """The loader's crop, flip and AutoAugment are torchvision's transforms in a row, under the image's
    seed (the same in any worker), and leave the device nothing to do for Table 1's AutoAugment column."""
    from torchvision.io import ImageReadMode, decode_image
    from torchvision.transforms import v2

    from simclr.data import pretraining_stream
    from simclr.views import two_views

    _write_tree(tmp_path, per_class=4, size=40)
    recipe = [("crop", {"scale": (0.2, 0.6), "ratio": (0.75, 1.33)}), ("flip", {"p": 0.5}),
              ("autoaugment", {"policy": "imagenet", "p": 1.0})]
    streams = [pretraining_stream(str(tmp_path), 16, recipe[0][1], workers=w, after=recipe[1:]) for w in (0, 2)]
    (a, _), = list(streams[0].batches(12, epoch=0, seed=0, shuffle=False))
    (b, _), = list(streams[1].batches(12, epoch=0, seed=0, shuffle=False))
    assert torch.equal(a, b)
    crop_only = pretraining_stream(str(tmp_path), 16, recipe[0][1], workers=0)
    assert not torch.equal(a, next(crop_only.batches(12, epoch=0, seed=0, shuffle=False))[0])
    oracle = v2.Compose([v2.RandomResizedCrop(16, scale=(0.2, 0.6), ratio=(0.75, 1.33), antialias=True,
                                              interpolation=v2.InterpolationMode.BICUBIC),
                         v2.RandomHorizontalFlip(0.5), v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET)])
    for i in (0, 5, 11):
        img = decode_image(streams[0]._dataset.paths[i], mode=ImageReadMode.RGB)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(data._mix(data._mix(0, 0, "crop"), i))
            assert torch.equal(a[i], torch.stack([oracle(img), oracle(img)]))
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    v1, v2_ = two_views(a, [], recipe, recipe, g)
    assert torch.equal(v1, a[:, 0].float() / 255) and torch.equal(v2_, a[:, 1].float() / 255)
    assert torch.equal(g.get_state(), state)  # nothing drawn on the device


def test_pretraining_stream_decodes_two_crops_per_image(tmp_path):
    from simclr.data import pretraining_stream

    _write_tree(tmp_path, per_class=4, size=40)
    stream = pretraining_stream(str(tmp_path), 16, {"scale": (0.2, 0.6), "ratio": (0.75, 1.33)}, workers=0)
    (a, ya), = list(stream.batches(12, epoch=0, seed=0))
    (b, _), = list(stream.batches(12, epoch=0, seed=0))
    assert a.shape == (12, 2, 3, 16, 16) and a.dtype == torch.uint8 and len(ya) == 12
    assert torch.equal(a, b)                                  # crops are a function of (seed, epoch)
    assert not torch.equal(a[:, 0], a[:, 1])                  # two independent crops per image
