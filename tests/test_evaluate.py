"""Evaluations against naive oracles; the frozen encoder stays bit-identical."""
import pytest
import torch

from simclr import config
from simclr.data import load_splits
from simclr.evaluate import (PROBE_TASKS, _transformed, assert_unchanged, extract, knn_accuracy, linear_probe,
                             state_fingerprint, transform_probe)
from simclr.models import build_model


def naive_knn(train_h, train_y, test_h, test_y, num_classes, k, t):
    correct = 0
    for x, y in zip(test_h, test_y):
        sims = [(float(torch.dot(x, r) / (x.norm() * r.norm())), int(c)) for r, c in zip(train_h, train_y)]
        sims.sort(key=lambda s: -s[0])
        votes = [0.0] * num_classes
        for s, c in sims[:k]:
            votes[c] += torch.exp(torch.tensor(s / t)).item()
        correct += int(max(range(num_classes), key=lambda c: votes[c]) == int(y))
    return 100.0 * correct / len(test_y)


@pytest.mark.parametrize("k, t", [(1, 0.1), (5, 0.07), (20, 1.0)])
def test_knn_matches_naive_weighted_vote(k, t):
    g = torch.Generator().manual_seed(k)
    train_h, test_h = torch.randn(60, 8, generator=g), torch.randn(25, 8, generator=g)
    train_y, test_y = torch.randint(0, 4, (60,), generator=g), torch.randint(0, 4, (25,), generator=g)
    ours = knn_accuracy(train_h, train_y, test_h, test_y, 4, k=k, temperature=t, chunk=7)
    assert ours == pytest.approx(naive_knn(train_h, train_y, test_h, test_y, 4, k, t))


@pytest.mark.parametrize("k", [1, 5])
def test_top_k_accuracy_matches_a_sorted_list(k):
    from simclr.evaluate import accuracy

    g = torch.Generator().manual_seed(1)
    logits, y = torch.randn(300, 12, generator=g), torch.randint(0, 12, (300,), generator=g)
    # naive: the label's rank among the sorted logits of its row
    want = 100.0 * sum(int(y[i]) in sorted(range(12), key=lambda c: -float(logits[i, c]))[:k]
                       for i in range(300)) / 300
    assert accuracy(torch.nn.Identity(), logits, y, chunk=64, k=k) == pytest.approx(want)


def test_knn_separable_clusters_is_perfect():
    centres = torch.eye(3) * 10
    train_h = centres.repeat_interleave(20, 0) + torch.randn(60, 3) * 0.1
    train_y = torch.arange(3).repeat_interleave(20)
    assert knn_accuracy(train_h, train_y, centres + 0.05, torch.arange(3), 3, k=10) == 100.0


def test_linear_probe_learns_linearly_separable_and_not_noise():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(16, 5, generator=g)
    x = torch.randn(600, 16, generator=g) * 3 + 1
    y = (x @ w).argmax(1)
    acc = linear_probe(x[:500], y[:500], x[500:], y[500:], 5, epochs=30, lr=0.1, batch_size=64)
    assert acc >= 85   # the argmax of a random linear map: a few test points sit on a boundary
    noise_y = torch.randint(0, 5, (600,), generator=g)
    assert linear_probe(x[:500], noise_y[:500], x[500:], noise_y[500:], 5, epochs=30) < 40


def test_frozen_check_catches_a_changed_encoder():
    model = build_model(config.RunConfig(), 10)
    before = state_fingerprint(model.encoder)
    assert_unchanged(model.encoder, before)
    model.encoder.train()
    model.encoder(torch.rand(4, 3, 32, 32))  # a train-mode forward moves BN running statistics
    with pytest.raises(RuntimeError, match="modified the frozen encoder"):
        assert_unchanged(model.encoder, before)


def test_extract_uses_eval_mode_and_accepts_uint8_or_float():
    model = build_model(config.RunConfig(), 10)
    imgs = torch.randint(0, 256, (10, 3, 32, 32), dtype=torch.uint8)
    h8 = extract(model.encoder, imgs, torch.device("cpu"))
    hf = extract(model.encoder, imgs.float() / 255, torch.device("cpu"), batch_size=3)
    assert torch.allclose(h8, hf, atol=1e-5)   # eval mode: a sample's h does not depend on its batch
    h, z = extract(model.encoder, imgs, torch.device("cpu"), head=model.head)
    assert z.shape == (10, 128) and torch.allclose(h, h8)


def test_transformation_labels_match_what_was_applied():
    images = torch.randint(0, 256, (400, 3, 16, 16), dtype=torch.uint8)
    x = images.float() / 255
    for task in PROBE_TASKS:
        out, labels = _transformed(images, task, torch.Generator().manual_seed(1))
        changed = (out - x).abs().flatten(1).amax(1) > 1e-6
        assert torch.equal(changed, labels > 0), task
    _, rot = _transformed(images, "rotation", torch.Generator().manual_seed(1))
    assert set(rot.tolist()) == {0, 1, 2, 3}
    _, gray = _transformed(images, "color_vs_grayscale", torch.Generator().manual_seed(1))
    assert 0.1 < gray.float().mean() < 0.3   # grayscale with p = 0.2: random guess 80 %


class PixelEncoder(torch.nn.Module):
    """h = the image pooled to 8x8: keeps colour, orientation, noise and edges, so every task is learnable."""
    dim = 192

    def forward(self, x):
        return torch.nn.functional.avg_pool2d(x, 4).flatten(1) * 4


def test_transform_probe_on_an_informative_h_and_a_destroyed_gh():
    # h keeps the pixels; g(h) is a constant, which must leave the probe at the random-guess rate
    # images with a vertical and a horizontal colour ramp under mild noise: rotation is visible in them
    # (the built-in shapes are nearly symmetric under 90-degree turns)
    def ramps(n, seed):
        g = torch.Generator().manual_seed(seed)
        ramp = torch.linspace(0, 1, 32)
        x = torch.stack([ramp[:, None].expand(32, 32), ramp[None, :].expand(32, 32), torch.full((32, 32), 0.5)])
        x = x * (0.5 + 0.5 * torch.rand(n, 3, 1, 1, generator=g)) + 0.02 * torch.randn(n, 3, 32, 32, generator=g)
        return (x.clamp(0, 1) * 255).to(torch.uint8)

    splits = load_splits("synthetic", num_train=10, num_test=10)
    splits.train_images, splits.test_images = ramps(1000, 0), ramps(400, 1)
    model = torch.nn.Module()
    model.encoder = PixelEncoder()
    model.head = torch.nn.Sequential(torch.nn.Linear(192, 16), torch.nn.Linear(16, 16))
    torch.nn.init.zeros_(model.head[0].weight)
    out = transform_probe(model, splits, torch.device("cpu"), "fp32", epochs=15, seed=0)
    for t_i, task in enumerate(PROBE_TASKS):
        chance = out[f"probe_{task}_chance"]
        # a constant g(h) gets one constant guess: it scores exactly one label's share of the test set
        g = torch.Generator().manual_seed(0 + t_i)  # the labels transform_probe draws (seed 0)
        _transformed(splits.train_images, task, g)
        _, test_y = _transformed(splits.test_images, task, g)
        shares = [100.0 * int((test_y == c).sum()) / len(test_y) for c in range(int(test_y.max()) + 1)]
        assert min(abs(out[f"probe_{task}_gh"] - s) for s in shares) < 1e-6, (task, shares)
        assert max(shares) == pytest.approx(chance)
        assert out[f"probe_{task}_h"] > chance + 10, (task, out[f"probe_{task}_h"], chance)
    assert out["probe_rotation_chance"] < 40 and out["probe_color_vs_grayscale_chance"] > 70


def test_finetuning_from_the_heads_first_layer_is_finetuning_an_encoder_that_ends_with_it(monkeypatch):
    # oracle: the head's first layer appended to the encoder, fine-tuned from "h" (the old code path)
    import copy
    from types import SimpleNamespace

    from simclr import evaluate

    splits = load_splits("synthetic", num_train=200, num_test=50, image_size=16)
    model = build_model(config.load(None, ["head.layers=3", "head.hidden_dim=24"]), splits.num_classes)
    body = torch.nn.Sequential(copy.deepcopy(model.encoder), copy.deepcopy(model.head.blocks[0]))
    body.dim = 24
    seen = []
    real = evaluate.extract
    monkeypatch.setattr(evaluate, "extract", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    args = dict(fraction=0.5, epochs=2, lr=0.05, batch_size=32, device=torch.device("cpu"), precision="fp32", seed=0)
    ours = evaluate.finetune(model, splits, head_layers=1, **args)
    oracle = evaluate.finetune(SimpleNamespace(encoder=body), splits, **args)
    assert ours == oracle and seen[0].shape[1] == 24 and torch.equal(seen[0], seen[1])
    assert not torch.equal(seen[0], real(body, splits.test_images, torch.device("cpu")))  # it did train


def test_finetuning_on_a_label_subset_learns_a_visible_class():
    # class 0: bright top half, class 1: bright bottom half (survives crops and horizontal flips)
    from simclr.evaluate import finetune

    g = torch.Generator().manual_seed(0)

    def images(n):
        y = torch.randint(0, 2, (n,), generator=g)
        x = torch.rand(n, 3, 32, 32, generator=g) * 0.3
        x[y == 0, :, :16] += 0.6
        x[y == 1, :, 16:] += 0.6
        return (x * 255).to(torch.uint8), y

    splits = load_splits("synthetic", num_train=10, num_test=10)
    (splits.train_images, splits.train_labels), (splits.test_images, splits.test_labels) = images(1000), images(200)
    splits.num_classes = 2
    model = build_model(config.RunConfig(), 2)
    before = state_fingerprint(model.encoder)
    acc = finetune(model, splits, 0.1, epochs=15, lr=0.05, batch_size=32, device=torch.device("cpu"),
                   precision="fp32", seed=0)
    assert set(acc) == {"acc"}, acc  # top-5 of 2 classes would say nothing
    assert acc["acc"] > 80, acc
    assert_unchanged(model.encoder, before)  # fine-tuning trains a copy: the pretrained encoder is kept
