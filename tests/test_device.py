"""Device paths on a CPU-only machine: resolution with CUDA mocked, tensors made on the batch's device
(checked with 'meta', which like CUDA refuses non-scalar CPU operands), the host-sync budget of a
training step, and files written on a GPU that load anywhere."""
import collections
import importlib
import json
import platform
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch.utils._python_dispatch import TorchDispatchMode

import simclr
from simclr import augment, distributed, views
from simclr import device as devices
from simclr.checks import validate
from simclr.config import load
from simclr.train import pretrain

run_module = importlib.import_module("simclr.engine")


@pytest.fixture
def cuda(monkeypatch):
    """CUDA reported available with `cuda.count` devices (no CUDA call is made)."""
    state = {"count": 1}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: state["count"])
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    return state


def test_auto_and_cuda_always_resolve_with_an_index(cuda, monkeypatch):
    # a bare "cuda" has index None: a generator made on it reports "cuda", the batch "cuda:0"
    assert devices.resolve("auto") == torch.device("cuda", 0)
    assert devices.resolve("cuda") == torch.device("cuda", 0)
    cuda["count"] = 4
    monkeypatch.setenv("LOCAL_RANK", "3")  # every GPU of the node visible: task k takes GPU k
    assert devices.resolve("auto") == torch.device("cuda", 3)
    assert devices.resolve("cuda:1") == torch.device("cuda", 1)  # an explicit index is kept
    cuda["count"] = 1  # per-task GPU binding: each task sees its own GPU as cuda:0
    assert devices.resolve("cuda") == torch.device("cuda", 0)
    with pytest.raises(RuntimeError, match="sees 1 CUDA device"):
        devices.resolve("cuda:1")


def test_precision_auto_is_what_the_device_computes_and_emulated_bf16_is_refused(cuda, monkeypatch):
    gpu = torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla V100")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 0))
    with pytest.raises(ValueError, match="compute capability 7.0.*train.precision=fp16"):
        devices.precision(gpu, "bf16")
    assert devices.precision(gpu, "auto") == "fp16"  # bf16 is emulated there
    assert devices.precision(gpu, "fp16") == "fp16"
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))  # A100: native
    assert devices.precision(gpu, "bf16") == "bf16"
    assert devices.precision(gpu, "auto") == "bf16"


def test_a_cpu_computes_bf16_with_avx512_and_emulated_bf16_runs_with_a_warning(monkeypatch):
    """ATen's own test (mkldnn_bf16_device_check) is AVX-512 BW, VL and DQ on x86: without them oneDNN
    emulates bf16. There auto is fp32, and an explicit bf16 (the default, the small presets) runs as
    its config says, with one warning a process naming the fix; the test suite's switch makes it fp32."""
    cpu = torch.device("cpu")
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists() and platform.machine() in ("x86_64", "AMD64"):
        flags = set(next(line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")).split())
        if {"avx512bw", "avx512vl", "avx512dq"} <= flags:
            assert devices.cpu_computes_bf16()
        elif not flags & {"amx_bf16", "avx_ne_convert", "avx512_bf16"}:  # newer oneDNN also takes these
            assert not devices.cpu_computes_bf16()
    monkeypatch.setattr(devices, "cpu_computes_bf16", lambda: True)
    assert [devices.precision(cpu, p) for p in ("auto", "bf16", "fp32", "fp16")] == ["bf16", "bf16", "fp32", "fp16"]
    monkeypatch.setattr(devices, "cpu_computes_bf16", lambda: False)
    monkeypatch.delenv(devices.FP32_FOR_EMULATED_BF16)
    devices._warn_emulated_bf16.cache_clear()
    with pytest.warns(UserWarning, match="emulates bf16.*for speed use train.precision=auto or fp32") as seen:
        assert [devices.precision(cpu, p) for p in ("bf16", "auto", "bf16", "fp32")] == ["bf16", "fp32", "bf16", "fp32"]
    assert len(seen) == 1  # once a process, however many runs a study trains
    monkeypatch.setenv(devices.FP32_FOR_EMULATED_BF16, "1")
    assert devices.precision(cpu, "bf16") == "fp32"


@pytest.mark.real_bf16
def test_a_run_on_a_cpu_that_emulates_bf16_says_so_in_its_record(tmp_path, monkeypatch):
    """env.json names the precision a run computed in, and marks bf16 that the CPU only emulates (its
    seconds are slow for that reason); where the CPU computes bf16 the mark is absent."""
    cfg = load("configs/tiny.yaml", ["data.num_train=64", "data.num_test=32", "train.batch_size=32",
                                     "train.steps=1", "optim.warmup_epochs=0", "eval.linear=false", "eval.knn_k=5",
                                     "train.progress=false"])
    for native in (False, True):
        monkeypatch.setattr(devices, "cpu_computes_bf16", lambda: native)
        env = json.loads((tmp_path / str(native) / simclr.run(cfg, tmp_path / str(native))["run_id"]
                          / "env.json").read_text())
        assert env["precision"] == "bf16" and env.get("bf16_emulated", False) is not native
        assert env["hardware"]["cpu_computes_bf16"] is native


def test_precision_auto_sets_autocast_and_loss_scaling(cuda, monkeypatch):
    from simclr.train import autocast, grad_scaler
    gpu = torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))  # T4
    monkeypatch.setattr(torch.amp, "GradScaler", lambda device, enabled: ("scaler", device, enabled))
    monkeypatch.setattr(torch, "autocast", lambda device, dtype: ("autocast", device, dtype))
    assert autocast(gpu, "auto") == ("autocast", "cuda", torch.float16)
    assert grad_scaler(gpu, "auto") == ("scaler", "cuda", True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))  # H100
    assert autocast(gpu, "auto") == ("autocast", "cuda", torch.bfloat16)
    assert grad_scaler(gpu, "auto") == ("scaler", "cuda", False)


def test_features_are_evaluated_on_the_gpu_only_where_they_fit(cuda, monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (30 * 2**30, 80 * 2**30))  # 30 GiB free
    gpu = torch.device("cuda", 0)
    assert devices.for_features(gpu, 2**30) == gpu                         # CIFAR-sized h
    assert devices.for_features(gpu, int(10.5 * 2**30)) == torch.device("cpu")  # ImageNet's h, three times over
    assert devices.for_features(torch.device("cpu"), 2**40) == torch.device("cpu")


def test_cpu_and_missing_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.resolve("auto") == torch.device("cpu")
    assert devices.resolve("cpu") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="no CUDA device is visible"):
        devices.resolve("cuda")
    with pytest.raises(ValueError, match="not a device"):
        devices.resolve("gpu0")


def test_to_cpu_leaves_no_tensor_on_a_device():
    state = {"w": torch.ones(2, device="meta"), "n": 3}
    moved = devices.to_cpu({"w": torch.ones(2), "n": 3})
    assert moved["w"].device.type == "cpu" and moved["n"] == 3
    with pytest.raises(NotImplementedError):  # meta has no data to copy: the function really moves
        devices.to_cpu(state)


@pytest.fixture
def two_processes(monkeypatch):
    """Process 0 of 2 with collectives stubbed as if the other process held the same tensors."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setattr(dist, "all_reduce", lambda t, op=None: t.mul_(2))
    monkeypatch.setattr(dist, "all_gather", lambda parts, t: [p.copy_(t) for p in parts])
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(dist, "get_rank", lambda: 0)


@pytest.mark.parametrize("dim", [1, 2])
def test_global_bn_makes_nothing_on_the_host(two_processes, dim):
    # a host tensor among device tensors fails at the first BN layer of a multi-GPU run; 'meta' fails
    # the same way, so the layer is run on it
    bn = (torch.nn.BatchNorm1d if dim == 1 else torch.nn.BatchNorm2d)(4)
    x = torch.randn(6, 4, *([5, 5] if dim == 2 else []))
    with distributed.global_bn(bn):
        bn.to("meta")(x.to("meta")).sum().backward()
    # the same layer on the CPU: two processes holding the same views normalise as one does
    plain = (torch.nn.BatchNorm1d if dim == 1 else torch.nn.BatchNorm2d)(4)
    bn = (torch.nn.BatchNorm1d if dim == 1 else torch.nn.BatchNorm2d)(4)
    with distributed.global_bn(bn):
        torch.testing.assert_close(bn(x), plain(x))


@pytest.mark.parametrize("extra, device, expected", [
    ([], "cuda:0", True), ([], "cpu", False), (["train.data_parallel=ddp"], "cpu", True),
    (["train.data_parallel=allreduce"], "cuda:0", False),
    # DDP waits for a gradient of every parameter: not where the step leaves some without one
    (["train.method=supervised"], "cuda:0", False), (["train.online_head=false"], "cuda:0", False),
    (["train.grad_cache_chunk=16"], "cuda:0", False)])
def test_ddp_where_the_step_reaches_every_parameter(two_processes, extra, device, expected):
    cfg = load("configs/tiny.yaml", extra)
    assert distributed.uses_ddp(cfg, torch.device(device)) is expected


def test_ddp_asked_for_a_step_it_cannot_run_is_refused():
    with pytest.raises(simclr.ConfigError, match="train.data_parallel=ddp needs the plain SimCLR step"):
        validate(load("configs/tiny.yaml", ["train.data_parallel=ddp", "train.method=supervised"]))


def test_sync_bn_on_gpus_keeps_the_parameters_and_is_undone(two_processes):
    """On GPUs global BN is torch's SyncBatchNorm (its forward needs CUDA: only the swap is checked here)."""
    from simclr.models import build_model

    model = build_model(load("configs/tiny.yaml"), 10)
    before = model.state_dict()
    kinds = lambda: {type(m) for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    with distributed.global_bn(model, sync=True):
        assert kinds() == {torch.nn.SyncBatchNorm}
        assert model.state_dict().keys() == before.keys()
    assert kinds() == {torch.nn.BatchNorm1d, torch.nn.BatchNorm2d}


def test_loss_and_gather_on_a_stand_in_device(two_processes, monkeypatch):
    import contextlib

    from simclr import losses

    monkeypatch.setattr(losses, "_full_precision", lambda z: contextlib.nullcontext())  # no autocast on meta
    z1, z2 = (torch.randn(8, 16, device="meta", requires_grad=True) for _ in range(2))
    for name in losses.LOSSES:
        g1, g2 = distributed.gather(z1), distributed.gather(z2)
        losses.contrastive_loss(name, g1, g2).backward()
    losses.contrastive_metrics(z1.detach(), z2.detach(), 0.5, True)


@pytest.mark.parametrize("processes", [1, 2])
@pytest.mark.parametrize("extra", [[], ["train.grad_cache_chunk=8"], ["train.method=supervised"], ["optim.name=sgd"],
                                   ["train.precision=fp16"]])
def test_training_steps_on_a_stand_in_device(tmp_path, monkeypatch, request, processes, extra):
    """Two steps of the real loop with the model, views, loss, optimizer and collectives on 'meta' and
    the data on the CPU, as on a GPU: any tensor made on the host among them fails. What meta cannot
    do is stood in for: the views (no generator on meta; the augmentation's accelerator path runs on
    the CPU in the sync-budget and same-views tests below, which do not catch device mixing in it),
    the finiteness check, fp16's gradient-scaler check and autocast (no values), and logging (the run
    stops before it). fp16's scaling, unscaling and scale update do run on meta."""
    import contextlib
    from pathlib import Path

    from simclr import train
    from simclr.data import InMemory, load_splits
    from simclr.models import build_model

    if processes == 2:
        request.getfixturevalue("two_processes")
    cfg = load("configs/tiny.yaml", ["data.num_train=64", "data.num_test=16", "train.batch_size=16",
                                     "data.image_size=16", "train.steps=3", "optim.warmup_epochs=0",
                                     "train.log_every=100", "train.progress=false", "train.precision=fp32", *extra])
    monkeypatch.setattr(train, "make_views", lambda cfg, images, g, rows=None: tuple(
        torch.rand(len(images), 3, 16, 16, device=images.device) for _ in range(2)))
    monkeypatch.setattr(train, "autocast", lambda device, precision: contextlib.nullcontext())
    monkeypatch.setattr(distributed, "all_finite", lambda value: True)
    monkeypatch.setattr(torch.amp.GradScaler, "_maybe_opt_step",  # reads found_inf: no value on meta
                        lambda self, optimizer, state, *args, **kwargs: optimizer.step())
    monkeypatch.setattr(devices, "generator", lambda device, seed: torch.Generator().manual_seed(seed))
    from simclr import losses
    monkeypatch.setattr(losses, "_full_precision", lambda z: contextlib.nullcontext())
    splits = load_splits("synthetic", num_train=64, num_test=16, image_size=16)
    data = InMemory(splits.train_images, splits.train_labels)
    torch.manual_seed(0)
    model = build_model(cfg, 10)
    out = train.pretrain(cfg, model, data, torch.device("meta"), Path(tmp_path), stop_after=2)
    assert out["status"] == "interrupted" and out["step"] == 2
    assert {p.device.type for p in model.parameters()} == {"meta"}


# ---- host syncs of a training step -------------------------------------------------------------------

SYNCS = {"aten.nonzero.default": "nonzero (subset sizes read on the host)",
         "aten._local_scalar_dense.default": "item / bool (a value read on the host)",
         "aten.lift_fresh.default": "torch.tensor(...) (host data copied to the device)"}


class CountSyncs(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.counts = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if str(func) in SYNCS:
            self.counts[str(func)] += 1
        return func(*args, **(kwargs or {}))


def _syncs(tmp_path, steps: int, extra) -> collections.Counter:
    cfg = load("configs/tiny.yaml", ["data.num_train=128", "data.num_test=16", "train.batch_size=16",
                                     "data.image_size=16", f"train.steps={steps}", "optim.warmup_epochs=0",
                                     "train.log_every=100",
                                     "train.checkpoint_every=100", "train.progress=false", "eval.knn=false",
                                     "eval.linear=false", "train.precision=fp32", *extra])
    mode = CountSyncs()

    def counted(*args, **kwargs):  # the training loop only: data set-up and evaluation are not steps
        with mode:
            return pretrain(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run_module, "pretrain", counted)
        simclr.run(cfg, tmp_path / str(steps))
    return mode.counts


CACHE = ["train.grad_cache_chunk=8", "augment.view1=[{op: crop}, {op: color_jitter}, {op: grayscale}, "
         "{op: blur}, {op: cutout}, {op: sobel, p: 0.5}, {op: noise, p: 0.5}, {op: rotate, p: 0.5}]"]


@pytest.mark.parametrize("extra, budget, processes", [
    ([], 1, 1),                                                    # the finiteness check
    ([], 1, 2),
    (CACHE, 1, 1),
    (CACHE, 1, 2),                                                 # a process's rows of each chunk
    (["train.method=supervised"], 1, 1),
    (["train.precision=fp16", "data.image_size=8"], 2, 1),         # + the scaler's inf check
])
def test_a_step_syncs_with_the_host_at_most_twice(tmp_path, monkeypatch, request, extra, budget, processes):
    """On an accelerator every host read stalls the queue. Counted per non-logging step as the
    difference between runs of 1 and 3 steps (set-up and the last save cancel), on the path an
    accelerator takes (augment.gathers: False); for 2 processes, as process 0 with stubbed collectives."""
    if processes == 2:
        request.getfixturevalue("two_processes")
        monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(augment, "gathers", lambda x: False)
    few, more = _syncs(tmp_path, 1, extra), _syncs(tmp_path, 3, extra)
    per_step = {SYNCS[k]: (more[k] - few[k]) / 2 for k in SYNCS}
    assert sum(per_step.values()) <= budget, per_step


def test_the_accelerator_path_gives_the_same_views(monkeypatch):
    ops = [("crop", {"scale": (0.2, 1.0)}), ("flip", {}), ("color_jitter", {"strength": 1.0}),
           ("grayscale", {}), ("blur", {}), ("cutout", {"p": 0.5}), ("sobel", {"p": 0.3}),
           ("noise", {"p": 0.5}), ("rotate", {"p": 0.5})]
    images = torch.randint(0, 256, (48, 3, 16, 16), dtype=torch.uint8)

    def make():
        return views.two_views(images, [], ops, ops[:4], torch.Generator().manual_seed(0))

    gathered = make()
    monkeypatch.setattr(augment, "gathers", lambda x: False)
    for a, b in zip(gathered, make()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_model_file_is_written_through_to_cpu(tmp_path, monkeypatch):
    """model.pt goes through device.to_cpu (on a CPU-only machine the weights are on the CPU anyway, so
    what is checked is that the run moves them, which on a GPU is what makes the file load anywhere)."""
    moved = []
    monkeypatch.setattr(devices, "to_cpu", lambda state: moved.append(len(state)) or {
        k: v.detach().cpu() for k, v in state.items()})
    cfg = load("configs/tiny.yaml", ["data.num_train=256", "data.num_test=32", "train.batch_size=32",
                                     "train.steps=2", "optim.warmup_epochs=0", "train.progress=false",
                                     "eval.knn=false", "eval.linear=false"])
    simclr.run(cfg, tmp_path)
    state = torch.load(tmp_path / cfg.run_id / "model.pt", weights_only=True)
    assert moved == [len(state)] and {v.device.type for v in state.values()} == {"cpu"}


def test_every_protocol_on_cached_features_asks_where_they_fit(tmp_path, monkeypatch):
    """kNN (final and monitored), linear probes on h and z, transfer and the transformation probe all run
    where device.for_features puts them (a GPU where the features fit): none stays on the CPU unasked."""
    from simclr import evaluate

    asked = []
    real = devices.for_features
    monkeypatch.setattr(devices, "for_features", lambda device, nbytes: asked.append(nbytes) or real(device, nbytes))
    cfg = load("configs/tiny.yaml", ["data.num_train=128", "data.num_test=64", "train.batch_size=32",
                                     "train.steps=8", "optim.warmup_epochs=0", "train.progress=false",
                                     "train.precision=fp32", "eval.knn_every_epochs=1", "eval.on_z=true",
                                     "eval.transfer=[synthetic]", "eval.transform_probe=true",
                                     "eval.probe_epochs=1", "eval.linear_epochs=1", "eval.knn_k=5"])
    simclr.run(cfg, tmp_path)
    monitored, reps, transfer = 2, 2, 1  # 4 steps an epoch: monitored at epochs 1 and 2; h and z
    assert len(asked) == monitored + reps + transfer + 2 * len(evaluate.PROBE_TASKS)  # the probe: h and g(h)


def test_a_run_started_in_one_precision_is_not_resumed_in_another(tmp_path, monkeypatch):
    """train.precision=auto resolves by machine (bf16 where the CPU computes it, fp32 elsewhere): a run
    interrupted on one machine is not resumed in another precision, before any step; the same machine
    resumes it."""
    from simclr.config import ConfigError

    cfg = load("configs/tiny.yaml", ["data.num_train=64", "data.num_test=32", "train.batch_size=32", "train.steps=4",
                                     "train.checkpoint_every=2", "optim.warmup_epochs=0", "eval.linear=false",
                                     "eval.knn_k=5", "train.progress=false", "train.precision=auto"])
    monkeypatch.setattr(devices, "cpu_computes_bf16", lambda: False)
    assert simclr.run(cfg, tmp_path, stop_after=2)["status"] == "interrupted"
    monkeypatch.setattr(devices, "cpu_computes_bf16", lambda: True)
    with pytest.raises(ConfigError, match="started in fp32.*resolves train.precision=auto to bf16"):
        simclr.run(cfg, tmp_path)
    monkeypatch.setattr(devices, "cpu_computes_bf16", lambda: False)
    assert simclr.run(cfg, tmp_path)["status"] == "completed"
