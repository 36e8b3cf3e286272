"""The gradient cache computes the gradients of the whole-batch loss: against a plain backward through
the same chunks (same BN statistics), and against the plain full batch when one chunk holds it all."""
import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F

import simclr
from simclr import gradcache, losses
from simclr.checks import validate
from simclr.config import ConfigError, load
from simclr.models import build_model

N, VIEWS = 48, 96  # images, views


def setup(seed=0):
    cfg = load("configs/tiny.yaml", ["train.precision=fp32"])
    torch.manual_seed(seed)
    model = build_model(cfg, 10).train()
    x = torch.rand(VIEWS, 3, 32, 32, generator=torch.Generator().manual_seed(seed + 1))
    labels = torch.randint(0, 10, (N,), generator=torch.Generator().manual_seed(seed + 2)).repeat(2)
    return cfg, model, x, labels


def loss_of(z, logits, labels, name="nt_xent"):
    z1, z2 = z.float().chunk(2)
    return losses.contrastive_loss(name, z1, z2, temperature=0.5), F.cross_entropy(logits.float(), labels)


def plain(model, x, labels, chunk, name="nt_xent"):
    """The oracle: one graph through every chunk, one backward of the whole-batch loss."""
    outs = [model(part) for part in x.split(chunk)]
    z, logits = torch.cat([o[1] for o in outs]), torch.cat([o[2] for o in outs])
    loss, online = loss_of(z, logits, labels, name)
    (loss + online).backward()
    return loss.detach()


def cached(model, x, labels, chunk, name="nt_xent"):
    amp = lambda: torch.autocast("cpu", enabled=False)  # fp32 comparison
    z, logits = gradcache.embed(model, model, x, chunk, amp)
    block_loss = lambda z1, z2, rows: losses.contrastive_loss(name, z1, z2, temperature=0.5, anchors=rows)
    loss, z_grad, _ = gradcache.loss_and_grad(z, block_loss, chunk)   # blocks of `chunk` anchors
    head = lambda lg, rows: F.cross_entropy(lg, labels[rows], reduction="sum") / len(labels)
    gradcache.replay(model, x, chunk, amp, z_grad, head)
    return loss


def rel_err(a, b):
    return max(((p.grad - q.grad).norm() / q.grad.norm().clamp_min(1e-30)).item()
               for p, q in zip(a.parameters(), b.parameters()) if q.grad is not None and q.grad.norm() > 0)


@pytest.mark.parametrize("chunk", [16, 32, VIEWS])
@pytest.mark.parametrize("name", ["nt_xent", "nt_logistic"])
def test_gradients_equal_the_plain_backward_with_the_same_chunks(chunk, name):
    _, model, x, labels = setup()
    ref = copy.deepcopy(model)
    loss_ref = plain(ref, x, labels, chunk, name)
    loss = cached(model, x, labels, chunk, name)
    assert torch.allclose(loss, loss_ref, rtol=1e-6)
    assert rel_err(model, ref) <= 1e-4
    for b, r in zip(model.buffers(), ref.buffers()):  # BN running statistics updated once, as in the oracle
        assert torch.allclose(b.float(), r.float(), rtol=1e-5, atol=1e-6)


def test_one_chunk_is_the_plain_full_batch_and_smaller_chunks_differ_only_by_bn():
    _, model, x, labels = setup()
    full = copy.deepcopy(model)
    plain(full, x, labels, VIEWS)
    one = copy.deepcopy(model)
    cached(one, x, labels, VIEWS)
    assert rel_err(one, full) <= 1e-4
    chunked = copy.deepcopy(model)
    cached(chunked, x, labels, 16)
    assert rel_err(chunked, full) > 1e-3  # per-chunk BN statistics are a real difference: say so, test it
    no_bn = copy.deepcopy(model).eval()   # with BN on running statistics, chunks change nothing
    ref = copy.deepcopy(no_bn)
    cached(no_bn, x, labels, 16)
    plain(ref, x, labels, VIEWS)
    assert rel_err(no_bn, ref) <= 1e-4


FAST = ["data.num_train=512", "data.num_test=256", "train.batch_size=64", "train.steps=6", "train.log_every=1",
        "train.checkpoint_every=3", "train.progress=false", "optim.warmup_epochs=0.25", "eval.linear=false",
        "eval.knn_k=20", "train.precision=fp32"]


def test_a_run_with_one_chunk_trains_like_the_plain_run(tmp_path):
    base = load("configs/tiny.yaml", FAST)
    one = simclr.replace(base, **{"train.grad_cache_chunk": 128})
    small = simclr.replace(base, **{"train.grad_cache_chunk": 32})
    logs = {}
    for name, cfg in (("plain", base), ("one", one), ("small", small)):
        m = simclr.run(cfg, tmp_path)
        assert m["status"] == "completed"
        records = map(json.loads, (tmp_path / cfg.run_id / "log.jsonl").read_text().splitlines())
        logs[name] = [r["loss"] for r in records if "event" not in r]
    assert len(logs["plain"]) == 6
    assert logs["one"] == pytest.approx(logs["plain"], rel=1e-4)
    assert logs["small"][0] == pytest.approx(logs["plain"][0], rel=0.05)  # the same data, BN per chunk


def test_chunk_must_divide_the_views_and_needs_the_contrastive_method():
    with pytest.raises(ConfigError, match="must divide the 128 views"):
        validate(load("configs/tiny.yaml", FAST + ["train.grad_cache_chunk=48"]))
    with pytest.raises(ConfigError, match="applies to train.method=simclr"):
        validate(load("configs/tiny.yaml", FAST + ["train.grad_cache_chunk=32", "train.method=supervised"]))


@pytest.mark.parametrize("precision", ["fp16", pytest.param("bf16", marks=pytest.mark.real_bf16)])
def test_gradient_cache_resumes_exactly_in_low_precision(tmp_path, precision):
    """The scaled path (fp16's GradScaler through the blockwise loss and the replayed online head) and
    a resume from a checkpoint give the same run as an uninterrupted one."""
    cfg = load("configs/tiny.yaml", FAST + [f"train.precision={precision}", "data.image_size=8",
                                            "train.grad_cache_chunk=32"])
    whole = simclr.run(cfg, tmp_path / "a")
    assert simclr.run(cfg, tmp_path / "b", stop_after=4)["status"] == "interrupted"
    resumed = simclr.run(cfg, tmp_path / "b")
    timing = ("seconds", "train_seconds", "train_images_per_s")
    assert {k: v for k, v in resumed.items() if k not in timing} == {k: v for k, v in whole.items() if k not in timing}
    assert whole["status"] == "completed" and all(map(math.isfinite, (whole["train_loss"], whole["knn_acc"])))


@pytest.mark.parametrize("size", [4, 5, 24])
@pytest.mark.parametrize("decoded", [False, True])
@pytest.mark.parametrize("gathers", [True, False])
def test_views_of_each_process_are_its_rows_of_the_one_process_views(size, decoded, gathers, monkeypatch):
    """With 3 processes of 8 rows each and chunks of `size` images, some chunks hold none of a process's
    rows: it still draws their parameters, so every process stays in step with the one-process run.
    Also on the path an accelerator takes (augment.gathers False: every op runs on the whole share,
    an empty one included)."""
    from simclr import augment

    monkeypatch.setattr(augment, "gathers", lambda x: gathers)
    from simclr.augment import Rows
    from simclr.views import two_views
    from tests.test_augment import EVERY_OP

    shape = (24, 2, 3, 32, 32) if decoded else (24, 3, 32, 32)  # crops made while decoding, or images
    images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    make = lambda g: (lambda part, rows: two_views(part, [], EVERY_OP, EVERY_OP, g, rows))
    whole = gradcache.views(make(torch.Generator().manual_seed(4)), images, size, channels_last=True)
    v1, v2 = whole.chunk(2)
    for idx in torch.arange(24).chunk(3):
        # rows as an index tensor, and as the block a training process holds (sliced on the host)
        for rows in (Rows(idx, 24), Rows(idx, 24, int(idx[0]))):
            mine = gradcache.views(make(torch.Generator().manual_seed(4)), images[idx], size, True, rows)
            assert mine.is_contiguous(memory_format=torch.channels_last)
            assert torch.equal(mine, torch.cat([v1[idx], v2[idx]]))
