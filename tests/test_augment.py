"""Batched augmentations against torchvision.transforms.v2.functional on the same parameters, plus
the statistics of the sampled parameters, the apply masks, determinism and validation."""
import itertools
import math
import shutil

import pytest
import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms.v2 import RandomResizedCrop

from simclr import augment as A
from simclr import ops
from simclr.ops import simclr_recipe
from simclr.views import apply_ops, check_ops, crop_flip_ops, two_views

ATOL = 1e-5


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def images(b, h=32, w=None, seed=0):
    return torch.rand(b, 3, h, w or h, generator=gen(seed))


def stack(fn, n):
    return torch.stack([fn(i) for i in range(n)])


def close(a, b, atol=ATOL):
    assert a.shape == b.shape, (a.shape, b.shape)
    err = (a - b).abs().max().item()
    assert err <= atol, f"max abs error {err}"


def force(params, apply):
    """params with the apply mask replaced by the given bools."""
    return {**params, "apply": torch.tensor(apply)}


# ---- crop -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
@pytest.mark.parametrize("h,w,size", [(32, 32, None), (48, 48, 20), (16, 16, 40), (30, 44, 32)])
def test_crop_matches_torchvision_resized_crop(interpolation, h, w, size):
    x = images(12, h, w, seed=1)
    p = A.sample_crop(x.shape, gen(2), scale=(0.08, 1.0), size=size, interpolation=interpolation)
    out = A.apply_crop(x, p)
    oh, ow = (h, w) if size is None else (size, size)
    mode = TF.InterpolationMode(interpolation)
    ref = stack(lambda i: TF.resized_crop(x[i], int(p["top"][i]), int(p["left"][i]), int(p["height"][i]),
                                          int(p["width"][i]), [oh, ow], interpolation=mode, antialias=True), 12)
    # torchvision leaves bicubic overshoot on float images; the op clamps to [0, 1]
    close(out, ref.clamp(0, 1))
    assert (p["height"] < h).any() and (p["width"] < w).any()  # real crops, not the identity


def test_crop_shrinking_window_uses_wide_filter():
    # a 60x60 window down to 8x8 needs the antialias filter spanning ~8 source pixels per tap
    x = images(3, 64, seed=3)
    p = {"apply": torch.ones(3, dtype=torch.bool), "top": torch.tensor([0, 2, 4]), "left": torch.tensor([4, 1, 0]),
         "height": torch.tensor([60, 55, 41]), "width": torch.tensor([60, 62, 37]), "size": (8, 8),
         "interpolation": "bicubic"}
    ref = stack(lambda i: TF.resized_crop(x[i], int(p["top"][i]), int(p["left"][i]), int(p["height"][i]),
                                          int(p["width"][i]), [8, 8], antialias=True,
                                          interpolation=TF.InterpolationMode.BICUBIC), 3)
    close(A.apply_crop(x, p), ref.clamp(0, 1))


def test_crop_mask_keeps_whole_image():
    x = images(6, seed=4)
    p = force(A.sample_crop(x.shape, gen(5)), [True, False] * 3)
    out = A.apply_crop(x, p)
    assert torch.equal(out[1::2], x[1::2])
    assert not torch.allclose(out[0::2], x[0::2])


def test_crop_box_statistics_match_torchvision_get_params():
    n, side = 20000, 224
    p = A.sample_crop((n, 3, side, side), gen(6))
    h, w, top, left = p["height"].double(), p["width"].double(), p["top"], p["left"]
    assert (h >= 1).all() and (w >= 1).all() and (top >= 0).all() and (left >= 0).all()
    assert (top + p["height"] <= side).all() and (left + p["width"] <= side).all()
    area, log_aspect = h * w / side ** 2, (w / h).log()
    assert area.min() > 0.075 and area.max() <= 1
    assert log_aspect.abs().max() < math.log(4 / 3) + 0.02  # integer rounding widens the range a bit
    torch.manual_seed(0)
    ref = torch.tensor([RandomResizedCrop.get_params(torch.empty(3, side, side), [0.08, 1.0], [3 / 4, 4 / 3])
                        for _ in range(4000)], dtype=torch.float64)
    ref_area, ref_log_aspect = ref[:, 2] * ref[:, 3] / side ** 2, (ref[:, 3] / ref[:, 2]).log()
    # means agree within ~4 standard errors of the torchvision sample
    assert abs(area.mean() - ref_area.mean()) < 4 * ref_area.std() / math.sqrt(4000)
    assert abs(log_aspect.mean() - ref_log_aspect.mean()) < 4 * ref_log_aspect.std() / math.sqrt(4000)
    assert abs(area.std() - ref_area.std()) < 0.02
    # positions are uniform over the free range
    free = (side - p["height"]).clamp(min=1).double()
    assert abs((top / free).mean() - 0.5) < 0.02


def test_crop_falls_back_to_torchvision_centre_crop():
    # no attempt can fit: the aspect ratio must be >= 2 at full area
    p = A.sample_crop((4, 3, 40, 30), gen(7), scale=(1.0, 1.0), ratio=(2.0, 3.0))
    i, j, h, w = RandomResizedCrop.get_params(torch.empty(3, 40, 30), [1.0, 1.0], [2.0, 3.0])
    assert (p["top"] == i).all() and (p["left"] == j).all()
    assert (p["height"] == h).all() and (p["width"] == w).all()


# ---- flip -------------------------------------------------------------------------------------------

def test_flip_matches_torchvision_and_mask():
    x = images(16, seed=8)
    p = A.sample_flip(x.shape, gen(9))
    out = A.apply_flip(x, p)
    ref = stack(lambda i: TF.horizontal_flip(x[i]) if p["apply"][i] else x[i], 16)
    assert torch.equal(out, ref)
    assert 0 < int(p["apply"].sum()) < 16


@pytest.mark.parametrize("prob", [0.5, 0.3])
def test_flip_rate(prob):
    rate = A.sample_flip((20000, 3, 8, 8), gen(10), p=prob)["apply"].float().mean().item()
    assert abs(rate - prob) < 0.015


# ---- color jitter -----------------------------------------------------------------------------------

def tricky_images(n, seed):
    """Random colours plus grey, black, white, saturated primaries and channel ties (hue edge cases)."""
    x = images(n, 16, seed=seed)
    x[0] = 0.5
    x[1, :, :4] = torch.tensor([1.0, 0.0, 0.0])[:, None, None]
    x[1, :, 4:8] = torch.tensor([0.2, 0.9, 0.9])[:, None, None]
    x[1, :, 8:12] = torch.tensor([0.7, 0.7, 0.1])[:, None, None]
    x[1, :, 12:] = 0.0
    x[2, 1] = x[2, 0]
    x[3, 2] = x[3, 1]
    return x


def identity_jitter(n, order=(0, 1, 2, 3)):
    return {"apply": torch.ones(n, dtype=torch.bool), "brightness": torch.zeros(n), "contrast": torch.ones(n),
            "saturation": torch.ones(n), "hue": torch.zeros(n),
            "order": torch.tensor(order).repeat(n, 1), "brightness_mode": "additive"}


SUB_OPS = {
    "multiplicative": (lambda img, f: TF.adjust_brightness(img, f), (0.2, 1.8)),
    "additive": (lambda img, f: (img + f).clamp(0, 1), (-0.8, 0.8)),
    "contrast": (lambda img, f: TF.adjust_contrast(img, f), (0.0, 1.8)),
    "saturation": (lambda img, f: TF.adjust_saturation(img, f), (0.0, 1.8)),
    "hue": (lambda img, f: TF.adjust_hue(img, f), (-0.5, 0.5)),
}


@pytest.mark.parametrize("sub", list(SUB_OPS))
def test_color_jitter_sub_op_matches_torchvision(sub):
    n = 12
    x = tricky_images(n, seed=11)
    ref_fn, (lo, hi) = SUB_OPS[sub]
    f = torch.linspace(lo, hi, n)
    p = identity_jitter(n)
    if sub in ("additive", "multiplicative"):
        p.update(brightness=f, brightness_mode=sub)
    else:
        p[sub] = f
    ref = stack(lambda i: ref_fn(x[i], f[i].item()), n)
    close(A.apply_color_jitter(x, p), ref)


@pytest.mark.parametrize("mode", ["additive", "multiplicative"])
def test_color_jitter_follows_each_samples_order(mode):
    perms = list(itertools.permutations(range(4)))
    n = 2 * len(perms)
    x = tricky_images(n, seed=12)
    p = A.sample_color_jitter(x.shape, gen(13), strength=1.0, brightness_mode=mode, p=1.0)
    p["order"] = torch.tensor(perms * 2)
    bright = SUB_OPS[mode][0]
    fns = (bright, SUB_OPS["contrast"][0], SUB_OPS["saturation"][0], SUB_OPS["hue"][0])
    keys = ("brightness", "contrast", "saturation", "hue")

    def sequential(i):
        img = x[i]
        for op in p["order"][i].tolist():
            img = fns[op](img, p[keys[op]][i].item()).clamp(0, 1)
        return img

    close(A.apply_color_jitter(x, p), stack(sequential, n))


def test_color_jitter_mask_and_purity():
    x = images(10, seed=14)
    before = x.clone()
    p = force(A.sample_color_jitter(x.shape, gen(15)), [True, False] * 5)
    out = A.apply_color_jitter(x, p)
    assert torch.equal(x, before)  # the input is never written
    assert torch.equal(out[1::2], x[1::2])
    assert (out[0::2] - x[0::2]).abs().amax((1, 2, 3)).min() > 1e-3


def test_color_jitter_factor_ranges_and_rate():
    n, s = 20000, 0.5
    add = A.sample_color_jitter((n, 3, 4, 4), gen(16), strength=s)
    mul = A.sample_color_jitter((n, 3, 4, 4), gen(17), strength=s, brightness_mode="multiplicative",
                                contrast=1.5, hue=0.05)
    b = 0.8 * s
    assert add["brightness"].min() >= -b and add["brightness"].max() <= b and abs(add["brightness"].mean()) < 0.01
    assert mul["brightness"].min() >= 1 - b and mul["brightness"].max() <= 1 + b
    assert add["contrast"].min() >= 1 - b and add["contrast"].max() <= 1 + b
    assert mul["contrast"].min() >= 0 and mul["contrast"].max() <= 2.5  # explicit value, floor at 0
    assert add["saturation"].min() >= 1 - b and add["saturation"].max() <= 1 + b
    assert add["hue"].abs().max() <= 0.2 * s and mul["hue"].abs().max() <= 0.05
    assert abs(add["hue"].std() - 0.2 * s / math.sqrt(3)) < 0.002  # uniform on [-h, h]
    assert abs(add["apply"].float().mean().item() - 0.8) < 0.015


def test_color_jitter_permutations_are_uniform():
    n = 24000
    order = A.sample_color_jitter((n, 3, 4, 4), gen(18))["order"]
    assert (order.sort(1).values == torch.arange(4)).all()  # every row is a permutation
    codes = (order * torch.tensor([64, 16, 4, 1])).sum(1)
    counts = torch.bincount(codes, minlength=256)[codes.unique()]
    assert len(counts) == 24
    chi2 = ((counts - n / 24) ** 2 / (n / 24)).sum().item()
    assert chi2 < 60  # 23 degrees of freedom: the 0.9999 quantile is about 57


# ---- grayscale --------------------------------------------------------------------------------------

def test_grayscale_matches_torchvision_and_mask():
    x = images(20, seed=19)
    p = A.sample_grayscale(x.shape, gen(20), p=0.5)
    ref = stack(lambda i: TF.rgb_to_grayscale(x[i], num_output_channels=3) if p["apply"][i] else x[i], 20)
    close(A.apply_grayscale(x, p), ref)
    assert 0 < int(p["apply"].sum()) < 20
    rate = A.sample_grayscale((20000, 3, 4, 4), gen(21))["apply"].float().mean().item()
    assert abs(rate - 0.2) < 0.015


# ---- blur -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("side,k", [(32, 3), (16, 3), (64, 7), (100, 11), (224, 23)])
def test_blur_kernel_is_a_tenth_of_the_side_made_odd(side, k):
    assert A.sample_blur((1, 3, side, side), gen())["kernel_size"] == k


@pytest.mark.parametrize("side", [32, 64])
def test_blur_matches_torchvision_gaussian_blur(side):
    x = images(6, side, seed=22)
    p = A.sample_blur(x.shape, gen(23))
    p["apply"] = torch.tensor([True, True, True, True, False, True])
    p["sigma"] = torch.tensor([0.1, 0.5, 1.0, 2.0, 1.0, 1.37])
    k = p["kernel_size"]
    ref = stack(lambda i: TF.gaussian_blur(x[i], [k, k], [p["sigma"][i].item()] * 2) if p["apply"][i] else x[i], 6)
    out = A.apply_blur(x, p)
    close(out, ref)
    assert torch.equal(out[4], x[4])
    p["kernel_size"] = 9  # any fixed odd kernel, not only the default
    ref = stack(lambda i: TF.gaussian_blur(x[i], [9, 9], [p["sigma"][i].item()] * 2) if p["apply"][i] else x[i], 6)
    close(A.apply_blur(x, p), ref)


def test_blur_sigma_range_and_rate():
    p = A.sample_blur((20000, 3, 32, 32), gen(24))
    assert p["sigma"].min() >= 0.1 and p["sigma"].max() <= 2.0 and abs(p["sigma"].mean() - 1.05) < 0.02
    assert abs(p["apply"].float().mean().item() - 0.5) < 0.015


# ---- cutout -----------------------------------------------------------------------------------------

def test_cutout_matches_torchvision_erase():
    x = images(10, 32, 40, seed=25)
    p = force(A.sample_cutout(x.shape, gen(26), value=0.25), [True] * 9 + [False])
    ref = stack(lambda i: TF.erase(x[i], int(p["top"][i]), int(p["left"][i]), int(p["side"][i]),
                                   int(p["side"][i]), torch.tensor(0.25)) if p["apply"][i] else x[i], 10)
    assert torch.equal(A.apply_cutout(x, p), ref)


def test_cutout_square_sizes_and_positions():
    n, h, w = 20000, 32, 48
    p = A.sample_cutout((n, 3, h, w), gen(27))
    side = p["side"]
    assert side.min() >= round(0.25 * h) and side.max() <= round(0.5 * h)
    assert abs(side.float().mean().item() - 0.375 * h) < 0.1
    assert (p["top"] >= 0).all() and (p["top"] + side <= h).all()
    assert (p["left"] >= 0).all() and (p["left"] + side <= w).all()
    assert abs((p["left"].float() / (w - side)).mean().item() - 0.5) < 0.02


# ---- sobel ------------------------------------------------------------------------------------------

def naive_sobel(img):
    """Per-pixel transcription of the 3x3 Sobel formula on the ITU-R 601 luma, replicated border."""
    _, h, w = img.shape
    lum = [[0.2989 * img[0, y, x].item() + 0.587 * img[1, y, x].item() + 0.114 * img[2, y, x].item()
            for x in range(w)] for y in range(h)]
    mag = torch.zeros(h, w, dtype=torch.float64)
    for y in range(h):
        for x in range(w):
            def p(dy, dx):
                return lum[min(max(y + dy, 0), h - 1)][min(max(x + dx, 0), w - 1)]
            gx = (p(-1, 1) + 2 * p(0, 1) + p(1, 1)) - (p(-1, -1) + 2 * p(0, -1) + p(1, -1))
            gy = (p(1, -1) + 2 * p(1, 0) + p(1, 1)) - (p(-1, -1) + 2 * p(-1, 0) + p(-1, 1))
            mag[y, x] = math.hypot(gx, gy)
    mag = mag / mag.max() if mag.max() > 0 else mag
    return mag.float().expand(3, h, w)


def test_sobel_matches_naive_loop():
    x = images(4, 10, 12, seed=28)
    x[3] = 0.4  # flat image: no edges
    p = force(A.sample_sobel(x.shape, gen(29)), [True, True, False, True])
    out = A.apply_sobel(x, p)
    close(out[[0, 1, 3]], torch.stack([naive_sobel(x[i]) for i in (0, 1, 3)]))
    assert torch.equal(out[2], x[2]) and out[0].amax() == 1.0 and out[3].abs().max() == 0


# ---- noise ------------------------------------------------------------------------------------------

def test_noise_matches_torchvision_gaussian_noise():
    x = images(6, seed=30)
    p = force(A.sample_noise(x.shape, gen(31)), [True] * 5 + [False])
    refs = []
    for i in range(6):
        torch.manual_seed(100 + i)
        refs.append(TF.gaussian_noise(x[i], sigma=p["sigma"][i].item()) if p["apply"][i] else x[i])
        torch.manual_seed(100 + i)
        p["noise"][i] = torch.randn_like(x[i])  # the same normal draws
    out = A.apply_noise(x, p)
    close(out, torch.stack(refs))
    close(out[:5], (x + p["noise"] * p["sigma"][:, None, None, None]).clamp(0, 1)[:5])
    assert torch.equal(out[5], x[5]) and out.min() >= 0 and out.max() <= 1


def test_noise_sigma_range():
    p = A.sample_noise((20000, 1, 1, 1), gen(32))
    assert p["sigma"].min() >= 0.05 and p["sigma"].max() <= 0.15 and abs(p["sigma"].mean() - 0.1) < 0.002
    assert abs(p["noise"].mean()) < 0.03 and abs(p["noise"].std() - 1) < 0.03


# ---- rotate -----------------------------------------------------------------------------------------

def test_rotate_matches_torchvision_counter_clockwise():
    x = images(8, 12, seed=33)
    p = {"apply": torch.tensor([True] * 7 + [False]), "k": torch.tensor([1, 2, 3, 1, 2, 3, 1, 2])}
    ref = stack(lambda i: TF.rotate(x[i], 90.0 * int(p["k"][i])) if p["apply"][i] else x[i], 8)
    assert torch.equal(A.apply_rotate(x, p), ref)
    # counter-clockwise: the top-right corner goes to the top-left
    assert torch.equal(A.apply_rotate(x[:1], {"apply": torch.tensor([True]), "k": torch.tensor([1])})[0, :, 0, 0],
                       x[0, :, 0, -1])
    with pytest.raises(ValueError, match="square"):
        A.apply_rotate(images(2, 8, 10), p)


def test_rotate_k_distribution():
    k = A.sample_rotate((30000, 3, 4, 4), gen(34))["k"]
    counts = torch.bincount(k, minlength=4)
    assert counts[0] == 0 and ((counts[1:] / 30000.0) - 1 / 3).abs().max() < 0.015


# ---- every op: determinism, purity, [0, 1] ----------------------------------------------------------

@pytest.mark.parametrize("name", list(A.OPS))
def test_op_is_deterministic_pure_and_in_range(name):
    x = images(16, seed=35)
    before = x.clone()
    params = {"p": 0.5} if name == "sobel" else {}  # at p=1 Sobel draws nothing
    a1, a2 = A.augment(x, name, gen(1), **params), A.augment(x, name, gen(1), **params)
    b = A.augment(x, name, gen(2), **params)
    assert torch.equal(a1, a2) and not torch.equal(a1, b)
    assert torch.equal(x, before)
    assert a1.shape == x.shape and a1.min() >= 0 and a1.max() <= 1


@pytest.mark.parametrize("name", list(A.OPS))
@pytest.mark.parametrize("p", [0.5, 1.0])
def test_op_in_place_makes_the_copying_ops_views(name, p):
    # in place (the pipeline owns its batch) the op writes into x; the values must not change
    x = images(16, seed=39)
    copied = A.augment(x, name, gen(7), p=p)
    owned = x.clone()
    assert torch.equal(A.augment(owned, name, gen(7), inplace=True, p=p), copied)
    ops = simclr_recipe(strength=1.0, blur=True) + [(name, {"p": p})]
    assert torch.equal(apply_ops(x.clone(), ops, gen(8), owned=True), apply_ops(x, ops, gen(8)))
    assert torch.equal(x, images(16, seed=39))  # the copying pipeline left its input alone


def test_a_view_of_the_input_is_not_taken_for_a_copy(monkeypatch):
    # an op whose output shares x's storage: the next op must still copy, not write into x
    transpose = (lambda shape, generator, *, p=1.0: {"apply": A._mask(shape, generator, p)},
                 lambda x, params: x.transpose(-1, -2))
    monkeypatch.setitem(A.OPS, "transpose", transpose)
    monkeypatch.setitem(ops.DEFAULTS, "transpose", {"p": 1.0})
    x = images(4, seed=40)
    out = apply_ops(x, [("transpose", {}), ("cutout", {"p": 1.0})], gen(9))
    assert torch.equal(x, images(4, seed=40)) and not torch.equal(out, x.transpose(-1, -2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("name", list(A.OPS))
def test_op_on_gpu_matches_cpu(name):
    x = images(8, seed=36)
    sample, apply = A.OPS[name]
    p = sample(x.shape, gen(3))
    on_gpu = {k: v.cuda() if torch.is_tensor(v) else v for k, v in p.items()}
    close(apply(x.cuda(), on_gpu).cpu(), apply(x, p), atol=1e-4)
    g = torch.Generator(device="cuda").manual_seed(0)
    assert A.augment(x.cuda(), name, g).device.type == "cuda"


# ---- validation -------------------------------------------------------------------------------------

def test_every_op_takes_exactly_the_parameters_of_the_op_table():
    """The defaults are written once (simclr/ops.py): each sample_<op> takes exactly those parameters,
    each without a default of its own, and an op called with none gets the table's."""
    import inspect
    assert set(A.OPS) == set(ops.DEFAULTS)
    for name, (sample, _) in A.OPS.items():
        kw = [q for q in inspect.signature(inspect.unwrap(sample)).parameters.values() if q.kind is q.KEYWORD_ONLY]
        assert {q.name for q in kw} == set(ops.DEFAULTS[name]), name
        assert all(q.default is inspect.Parameter.empty for q in kw), name
    x = images(6, seed=41)
    assert torch.equal(A.augment(x, "blur", gen(8)), A.augment(x, "blur", gen(8), sigma=(0.1, 2.0), p=0.5))


def test_check_op_accepts_defaults():
    for name in A.OPS:
        A.check_op(name, {})
    check_ops(simclr_recipe(strength=1.0, blur=True, brightness_mode="multiplicative"))
    check_ops(crop_flip_ops())


@pytest.mark.parametrize("name,params,words", [
    ("zoom", {}, ["zoom", "crop", "rotate"]),
    ("crop", {"scales": (0.1, 1.0)}, ["scales", "scale", "ratio"]),
    ("flip", {"p": 1.5}, ["p"]),
    ("grayscale", {"p": -0.1}, ["p"]),
    ("crop", {"scale": (1.0, 0.08)}, ["scale"]),
    ("crop", {"scale": (0.0, 1.0)}, ["scale"]),
    ("crop", {"ratio": (4 / 3, 3 / 4)}, ["ratio"]),
    ("crop", {"size": 0}, ["size"]),
    ("crop", {"interpolation": "nearest"}, ["interpolation"]),
    ("blur", {"sigma": (-1.0, 2.0)}, ["sigma"]),
    ("blur", {"sigma": (2.0, 0.1)}, ["sigma"]),
    ("noise", {"sigma": (-0.1, 0.1)}, ["sigma"]),
    ("cutout", {"size": (0.5, 1.5)}, ["size"]),
    ("color_jitter", {"strength": 3.0}, ["hue"]),
    ("color_jitter", {"contrast": -0.5}, ["contrast"]),
    ("color_jitter", {"brightness_mode": "gamma"}, ["brightness_mode"]),
])
def test_check_op_rejects(name, params, words):
    with pytest.raises(ValueError) as err:
        A.check_op(name, params)
    for word in words:
        assert word in str(err.value)


def test_check_ops_rejects_malformed_and_augment_validates():
    with pytest.raises(ValueError, match="pair"):
        check_ops([("crop",)])
    with pytest.raises(ValueError, match="scale"):
        check_ops([("flip", {}), ("crop", {"scale": (0.9, 0.1)})])
    with pytest.raises(ValueError, match="unknown"):
        A.augment(images(2), "flip", gen(), prob=0.5)


# ---- views ------------------------------------------------------------------------------------------

def test_to_float():
    u = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 3, 1, 1)
    close(A.to_float(u), torch.tensor([0.0, 0.2, 1.0]).view(1, 3, 1, 1))
    with pytest.raises(TypeError):
        A.to_float(u.float())


def test_two_views_shared_then_branches():
    imgs = (images(8, seed=37) * 255).to(torch.uint8)
    shared = [("crop", {"scale": (0.3, 1.0)})]
    color = [("color_jitter", {"strength": 1.0, "p": 1.0})]
    v1, v2 = two_views(imgs, shared, [], color, gen(4))
    g = gen(4)
    x = A.augment(A.to_float(imgs), "crop", g, scale=(0.3, 1.0))
    assert torch.equal(v1, x)  # empty recipe: the identity branch
    assert torch.equal(v2, A.augment(x, "color_jitter", g, strength=1.0, p=1.0))
    assert torch.equal(apply_ops(x, [], g), x)


def test_two_views_simclr_recipe():
    imgs = (images(16, seed=38) * 255).to(torch.uint8)
    ops = simclr_recipe(strength=0.5, blur=True)
    assert [name for name, _ in ops] == ["crop", "flip", "color_jitter", "grayscale", "blur"]
    assert [name for name, _ in simclr_recipe(blur=False, flip=False)] == ["crop", "color_jitter", "grayscale"]
    assert dict(ops)["color_jitter"]["p"] == 0.8 and dict(ops)["grayscale"]["p"] == 0.2
    assert [name for name, _ in crop_flip_ops()] == ["crop", "flip"]
    v1, v2 = two_views(imgs, [], ops, ops, gen(5))
    w1, w2 = two_views(imgs, [], ops, ops, gen(5))
    assert torch.equal(v1, w1) and torch.equal(v2, w2)
    assert v1.shape == v2.shape == (16, 3, 32, 32) and v1.dtype == torch.float32
    assert min(v1.min(), v2.min()) >= 0 and max(v1.max(), v2.max()) <= 1
    assert (v1 - v2).abs().amax((1, 2, 3)).min() > 0.01  # each image gets two different views
    u1, _ = two_views(imgs, [], ops, ops, gen(6))
    assert not torch.equal(u1, v1)


def test_two_views_of_crops_made_while_decoding():
    # (B, 2, C, H, W): each view's crop is done; every branch skips its first op (the crop)
    from simclr.augment import gray

    x = torch.randint(0, 256, (4, 2, 3, 8, 8), dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    crop = ("crop", {"scale": (0.08, 1.0)})
    v1, v2 = two_views(x, [], [crop, ("grayscale", {"p": 1.0})], [crop], g)
    assert torch.allclose(v1, gray(x[:, 0].float() / 255).repeat(1, 3, 1, 1))
    assert torch.equal(v2, x[:, 1].float() / 255)


def test_autoaugment_is_torchvisions_policy_per_image():
    """Table 1's AutoAugment column: each image gets torchvision's policy under its own drawn seed."""
    from torchvision.transforms import v2

    x = torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8)
    for policy in ("imagenet", "cifar10"):
        out = A.augment(A.to_float(x), "autoaugment", torch.Generator().manual_seed(3), policy=policy)
        params = A.sample_autoaugment(x.shape, torch.Generator().manual_seed(3), policy=policy)
        for i in range(len(x)):
            torch.manual_seed(int(params["seed"][i]))
            ref = v2.AutoAugment(v2.AutoAugmentPolicy(policy))(x[i])
            assert torch.equal((out[i] * 255).round().to(torch.uint8), ref)
    same = A.augment(A.to_float(x), "autoaugment", torch.Generator().manual_seed(3), p=0.0)
    assert torch.equal(same, A.to_float(x))
    with pytest.raises(ValueError, match="policy must be one of"):
        A.check_op("autoaugment", {"policy": "svhn2"})


def test_two_views_of_a_shared_crop_made_while_decoding():
    # (B, 1, C, H, W): Figure 5's shared crop is done; the rest of the shared ops and both branches run
    x = torch.randint(0, 256, (6, 1, 3, 8, 8), dtype=torch.uint8)
    shared = [("crop", {"scale": (0.3, 1.0)}), ("flip", {"p": 1.0})]
    color = [("color_jitter", {"strength": 1.0, "p": 1.0})]
    v1, v2 = two_views(x, shared, color, [], gen(7))
    w1, w2 = two_views(x[:, 0], shared[1:], color, [], gen(7))
    assert torch.equal(v1, w1) and torch.equal(v2, w2)
    assert torch.equal(v2, A.to_float(x[:, 0]).flip(-1))  # identity branch: the flipped shared crop


# every op, with its probabilities below 1 so masks split the rows, and a crop that changes the size
EVERY_OP = [("crop", {"scale": (0.2, 1.0), "size": 24}), ("flip", {}), ("color_jitter", {"strength": 1.0}),
            ("grayscale", {"p": 0.5}), ("blur", {}), ("cutout", {"p": 0.7}), ("sobel", {"p": 0.3}),
            ("noise", {"p": 0.6}), ("rotate", {"p": 0.8}), ("autoaugment", {"p": 0.4})]
assert {name for name, _ in EVERY_OP} == set(A.OPS)  # a new op joins the multi-process tests


def shards(n, world):
    """Each process's Rows of a global batch of n, as distributed.rows splits it."""
    return [A.Rows(idx, n) for idx in torch.arange(n).chunk(world)]


@pytest.mark.parametrize("world", [2, 3])
@pytest.mark.parametrize("layout", ["images", "decoded crops", "shared crop", "two recipes"])
def test_each_process_augmenting_its_rows_makes_the_one_process_views(world, layout):
    """A multi-process run loads and augments only its rows; its views must be exactly those rows of
    the views one process makes of the whole batch (the parameters are drawn for the whole batch)."""
    n = 12
    x = (images(n * 2, seed=40) * 255).to(torch.uint8)
    shared, v1_ops, v2_ops = [], EVERY_OP, EVERY_OP
    if layout == "decoded crops":
        x = x.view(n, 2, 3, 32, 32)
    elif layout == "shared crop":
        x, shared, v1_ops, v2_ops = x[:n, None], [("crop", {"scale": (0.3, 1.0)}), ("flip", {})], EVERY_OP[1:], []
    else:
        x = x[:n]
        if layout == "two recipes":
            v2_ops = EVERY_OP[:3]
    w1, w2 = two_views(x, shared, v1_ops, v2_ops, gen(9))
    parts = [two_views(x[r.index], shared, v1_ops, v2_ops, gen(9), r) for r in shards(n, world)]
    assert torch.equal(torch.cat([p[0] for p in parts]), w1) and torch.equal(torch.cat([p[1] for p in parts]), w2)
    assert not torch.equal(w1, w2)


def test_rows_must_match_the_batch():
    with pytest.raises(ValueError, match="rows names 3 samples but the batch holds 2"):
        A.augment(images(2), "flip", gen(), A.Rows(torch.arange(3), 6))


@pytest.mark.skipif(not any(map(shutil.which, ("c++", "g++", "clang++"))), reason="torch.compile on CPU needs a C++ compiler")
def test_compiled_kernels_make_the_eager_views():
    """train.compile runs the fused kernels (hue, blends, resize matrices) through torch.compile:
    the same views up to float32 rounding, on subsets of every size the masks select."""
    x = (images(24, seed=41) * 255).to(torch.uint8)
    ops = simclr_recipe(strength=1.0, blur=True) + EVERY_OP[5:]
    eager = two_views(x, [], ops, EVERY_OP, gen(11))
    try:
        A.compile_kernels(True)
        fused = two_views(x, [], ops, EVERY_OP, gen(11))
        again = two_views(x[:7], [], ops, EVERY_OP, gen(11))  # other sizes: no recompiling needed
    finally:
        A.compile_kernels(False)
    for e, f in zip(eager, fused):
        close(f, e, atol=1e-5)
    assert again[1].shape == (7, 3, 24, 24) and len(A._compiled) >= 5  # the kernels did go through compile
