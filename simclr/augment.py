"""Batched augmentation ops on a whole (B, C, H, W) float batch in [0, 1], on any device.

Every op is two pure functions: ``sample_<op>(shape, generator, **params)`` draws per-sample
parameters, including the bool (B,) mask ``apply`` drawn with probability ``p``, and
``apply_<op>(x, params)`` applies them deterministically; samples whose mask is False pass
unchanged. All randomness comes from the explicit generator, which must live on x.device, so a seed
fixes every view. Besides tensors a params dict may carry the op's static settings (output size,
interpolation, kernel size, brightness mode) so that ``apply`` needs nothing else.

The reference semantics are torchvision.transforms.v2.functional on float images; the tests check
every op against it (Sobel, which torchvision lacks, against the textbook formula).
"""
import functools
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from simclr.ops import DEFAULTS, check_op

GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale


def to_float(x):
    """uint8 images -> float32 in [0, 1]."""
    if x.dtype != torch.uint8:
        raise TypeError(f"to_float expects uint8 images, got {x.dtype}")
    return x.float().div_(255)


def _rand(generator, *size):
    return torch.rand(size, generator=generator, device=generator.device)


def _uniform(generator, size, lo, hi):
    return _rand(generator, *size) * (hi - lo) + lo


def _mask(shape, generator, p):
    return _rand(generator, shape[0]) < p


def _col(v):
    return v[:, None, None, None]


def fills(name):
    """sample_<op>(shape, generator, **params) with the parameters not given at their defaults, which are
    written once, in simclr/ops.py."""
    def wrap(sample):
        @functools.wraps(sample)
        def filled(shape, generator, **params):
            return sample(shape, generator, **{**DEFAULTS[name], **params})
        return filled
    return wrap


# ---- fused kernels ---------------------------------------------------------------------------------
# Chains of elementwise ops (the blends; the hue rotation is about 40 passes over the batch) and the
# crop's many small ops on resize matrices. Eager by default; after compile_kernels() each goes through
# torch.compile (dynamic shapes: the subsets a mask selects change size every step), which fuses a
# chain into one loop: on CPU (where it needs a C++ compiler) the hue runs about 8x faster and the
# whole crop + colour pipeline about 10 % faster, the gathers of the masked subsets remaining.

_compiled: dict = {}
_use_compiled = False


def compile_kernels(on: bool = True) -> None:
    """Run the @kernel functions through torch.compile in this process (train.compile sets it)."""
    global _use_compiled
    _use_compiled = on


def kernel(fn):
    @functools.wraps(fn)
    def run(*args):
        if not _use_compiled:
            return fn(*args)
        if fn not in _compiled:
            _compiled[fn] = torch.compile(fn, dynamic=True)
        return _compiled[fn](*args)

    return run


def gathers(x) -> bool:
    """Whether masked ops gather their subset (CPU) or run on the whole batch and select (accelerators).

    Gathering needs the subset's size on the host (a nonzero: a device-to-host sync per op, about 20
    a step, each one stalling a GPU's queue), while on a CPU it is what makes an op with p=0.5 cost
    half. Both give the same views: every op works per sample."""
    return x.device.type == "cpu"


def _on(x, apply, fn, inplace=False, mutates=False):
    """fn(x_subset, idx) on the samples whose mask is set; the others pass through unchanged.

    Working on the subset makes an op with p=0.5 cost half, and gather + index_copy is several times
    faster than torch.where over the batch on CPU. ``inplace``: x belongs to the pipeline, so the
    subset is written back into it instead of into a copy of the batch (the copies were 11 % of the
    augmentation at 32 px). ``mutates``: fn writes into its argument, which must then be its own.
    Off the CPU (see gathers), fn runs on every sample and the mask selects, without a host sync.
    """
    if not len(x):  # no sample (a process's share of a gradient-cache chunk can be empty)
        return x
    if not gathers(x):
        y = fn(x.clone() if mutates else x, torch.arange(len(x), device=x.device))
        keep = _col(apply) if x.ndim == 4 else apply.view(-1, *[1] * (x.ndim - 1))
        return torch.where(keep, y, x, out=x) if inplace else torch.where(keep, y, x)
    idx = apply.nonzero().squeeze(1)
    if not idx.numel():
        return x
    if idx.numel() == x.shape[0]:
        return fn(x.clone() if mutates and not inplace else x, idx)
    y = fn(x.index_select(0, idx), idx)
    return x.index_copy_(0, idx, y) if inplace else x.index_copy(0, idx, y)


def gray(x):
    """(B, 3, H, W) -> (B, 1, H, W) luma."""
    r, g, b = x.unbind(1)
    return (r * GRAY_WEIGHTS[0] + g * GRAY_WEIGHTS[1] + b * GRAY_WEIGHTS[2]).unsqueeze(1)


# ---- crop: random resized crop -------------------------------------------------------------------

@fills("crop")
def sample_crop(shape, generator, *, scale, ratio, size, interpolation, p):
    """Boxes as torchvision's RandomResizedCrop.get_params, vectorised: 10 attempts per sample, the
    first that fits the image wins, else the centre crop of the closest allowed aspect ratio."""
    B, _, H, W = shape
    area = _uniform(generator, (B, 10), *scale) * (H * W)
    aspect = _uniform(generator, (B, 10), math.log(ratio[0]), math.log(ratio[1])).exp()
    w = (area * aspect).sqrt().round()
    h = (area / aspect).sqrt().round()
    fits = (w > 0) & (w <= W) & (h > 0) & (h <= H)
    first = fits.byte().argmax(1, keepdim=True)  # argmax returns the first maximum
    found = fits.any(1)
    if W / H < ratio[0]:
        fh, fw = round(W / ratio[0]), W
    elif W / H > ratio[1]:
        fh, fw = H, round(H * ratio[1])
    else:
        fh, fw = H, W
    h = torch.where(found, h.gather(1, first).squeeze(1), fh).long()
    w = torch.where(found, w.gather(1, first).squeeze(1), fw).long()
    top = (_rand(generator, B) * (H - h + 1)).long().minimum(H - h)
    left = (_rand(generator, B) * (W - w + 1)).long().minimum(W - w)
    out = (H, W) if size is None else (size, size)
    return {"apply": _mask(shape, generator, p),
            "top": torch.where(found, top, (H - h) // 2), "left": torch.where(found, left, (W - w) // 2),
            "height": h, "width": w, "size": out, "interpolation": interpolation}


def _filter(t, cubic):
    t = t.abs()
    if not cubic:
        return (1 - t).clamp_(min=0)
    a = -0.5  # PyTorch's antialiased bicubic uses Keys a=-0.5 (as PIL), not the -0.75 of plain bicubic
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = (((t - 5) * t + 8) * t - 4) * a
    return torch.where(t < 1, near, torch.where(t < 2, far, 0.0))


@kernel
def _resize_weights(start, length, in_size, out_size, cubic):
    """(B, out_size, in_size) rows of torch's antialiased interpolation (align_corners=False) of the
    window [start, start+length) of each sample: output pixel i is centred at scale*(i+0.5) in the
    window; when shrinking, the filter is stretched by scale so every covered source pixel counts;
    taps outside the window are dropped and each row renormalised, which is torch's border rule.
    Only the few taps under the filter are evaluated, then scattered into the dense matrix."""
    scale = length.float() / out_size
    stretch = scale.clamp(min=1.0)[:, None, None]
    support = (2.0 if cubic else 1.0) * stretch
    centre = (scale[:, None] * (torch.arange(out_size, device=start.device) + 0.5))[:, :, None]
    taps = math.ceil(2 * (2.0 if cubic else 1.0) * max(1.0, in_size / out_size)) + 1
    src = (centre - support + 0.5).floor().clamp_(min=0) + torch.arange(taps, device=start.device)
    w = _filter((src + 0.5 - centre) / stretch, cubic) * (src < length[:, None, None])
    w = w / w.sum(-1, keepdim=True)
    cols = (src.long() + start[:, None, None]).clamp_(max=in_size - 1)  # clamped taps carry weight 0
    return w.new_zeros(len(start), out_size, in_size).scatter_add_(2, cols, w)


def apply_crop(x, params):
    """Equals torchvision resized_crop(..., antialias=True) per sample, except that the output is
    clamped to [0, 1] (torchvision leaves bicubic overshoot on float input). A masked-out sample is
    the whole image resized to the output size (unchanged when the size is the input's)."""
    B, C, H, W = x.shape
    apply = params["apply"]
    top, left = torch.where(apply, params["top"], 0), torch.where(apply, params["left"], 0)
    h, w = torch.where(apply, params["height"], H), torch.where(apply, params["width"], W)
    (oh, ow), cubic = params["size"], params["interpolation"] == "bicubic"
    wy = _resize_weights(top, h, H, oh, cubic).to(x.dtype)
    wx = _resize_weights(left, w, W, ow, cubic).to(x.dtype)
    out = torch.bmm(x.reshape(B, C * H, W), wx.transpose(1, 2)).view(B * C, H, ow)
    # one matrix per (sample, channel): a broadcast matmul is 4x slower on CPU
    out = torch.bmm(wy.repeat_interleave(C, 0), out).view(B, C, oh, ow)
    return out.clamp_(0, 1) if cubic else out


# ---- flip -----------------------------------------------------------------------------------------

@fills("flip")
def sample_flip(shape, generator, *, p):
    return {"apply": _mask(shape, generator, p)}


def apply_flip(x, params):
    return _on(x, params["apply"], lambda x, idx: x.flip(-1), params.get("inplace", False))


# ---- color jitter ---------------------------------------------------------------------------------

@fills("color_jitter")
def sample_color_jitter(shape, generator, *, strength, brightness, contrast, saturation, hue,
                        brightness_mode, p):
    """The paper's colour distortion of strength s: brightness, contrast, saturation 0.8s, hue 0.2s
    unless given. Additive brightness (paper v1) draws a delta in U(-b, b); multiplicative (later
    code, torchvision) a factor in U(max(0, 1-b), 1+b). ``order`` is a uniform random permutation of
    (brightness, contrast, saturation, hue) per sample."""
    B = shape[0]
    b, c, s = (0.8 * strength if v is None else v for v in (brightness, contrast, saturation))
    h = 0.2 * strength if hue is None else hue
    additive = brightness_mode == "additive"
    return {"apply": _mask(shape, generator, p),
            "brightness": _uniform(generator, (B,), -b, b) if additive
            else _uniform(generator, (B,), max(0.0, 1 - b), 1 + b),
            "contrast": _uniform(generator, (B,), max(0.0, 1 - c), 1 + c),
            "saturation": _uniform(generator, (B,), max(0.0, 1 - s), 1 + s),
            "hue": _uniform(generator, (B,), -h, h),
            "order": _rand(generator, B, 4).argsort(1),
            "brightness_mode": brightness_mode}


def _blend(x, y, f):
    f = _col(f)
    return (x * f).add_(y * (1 - f)).clamp_(0, 1)


@kernel
def _brightness_add(x, d):
    return (x + _col(d)).clamp_(0, 1)


@kernel
def _brightness_mul(x, f):
    return (x * _col(f)).clamp_(0, 1)


@kernel
def _contrast(x, f):
    return _blend(x, gray(x).mean((1, 2, 3), keepdim=True), f)


@kernel
def _saturation(x, f):
    return _blend(x, gray(x), f)


@kernel
def _hue(x, shift):
    """torchvision's adjust_hue (RGB -> HSV, rotate H, -> RGB) with no gathers, stacks or wheres
    (torch.where, aminmax and minimum are several times slower than plain arithmetic on CPU).
    With v = max, m = min, c = v - m and the hue hs in sextants [-1, 5], a channel whose pure hue sits
    at sextant n (R 0, G 2, B 4) becomes, after a shift of the hue by 6 * shift sextants,
    m + c * clamp(2 - d, 0, 1), d the circular distance from hs to n' = (n - 6 * shift) mod 6: the
    channels' sextants turn the other way instead of every pixel's hue, so the modulo runs on (B, 3)
    numbers only."""
    r, g, b = x.unbind(1)
    v, m = x.amax(1), x.amin(1)
    c = v - m
    # Which channel is the max, as 0/1 floats: r first, then g (torchvision's order; ties give the
    # same hue either way, and c = 0 gives v whatever the hue).
    is_r = (r >= v).float()
    is_g = (g >= v).float().mul_(1 - is_r)
    is_b = 1 - is_r - is_g
    num = torch.addcmul(is_b * (r - g), is_r, g - b).addcmul_(is_g, b - r)
    hs = num.div_(c.clamp(min=1e-30)).add_(is_g, alpha=2).add_(is_b, alpha=4)
    sextant = torch.arange(0, 6, 2, device=x.device, dtype=shift.dtype)  # R, G, B; made there, not copied
    turned = (sextant - 6 * shift[:, None]).remainder_(6)[:, :, None, None]
    # u = hs - n' in [-7, 5]: where |u| <= 6, d = 3 - ||u| - 3| and this is clamp(2 - d, 0, 1); where
    # |u| > 6, d = |u| - 6 < 1 and both sides are 1
    t = (hs.unsqueeze(1) - turned).abs_().sub_(3).abs_().sub_(1).clamp_(0, 1)
    return torch.addcmul(m.unsqueeze(1), c.unsqueeze(1), t)


def apply_color_jitter(x, params):
    """Each op is followed by clipping to [0, 1]. At stage i every op runs on exactly the samples
    whose permutation puts it i-th, so the whole jitter costs one pass of each op."""
    add = params["brightness_mode"] == "additive"
    ops = (_brightness_add if add else _brightness_mul, _contrast, _saturation, _hue)
    factors = (params["brightness"], params["contrast"], params["saturation"], params["hue"])

    def jitter(x, idx):
        order, f = params["order"][idx], [v[idx] for v in factors]
        for stage in range(4):
            if not gathers(x):  # every op on every sample, each sample keeping its stage's op
                x = torch.stack([ops[op](x, f[op]) for op in range(4)]).gather(
                    0, order[None, :, stage, None, None, None].expand(1, *x.shape)).squeeze(0)
                continue
            for op in range(4):
                sel = (order[:, stage] == op).nonzero().squeeze(1)
                if sel.numel():
                    x.index_copy_(0, sel, ops[op](x.index_select(0, sel), f[op][sel]))
        return x

    return _on(x, params["apply"], jitter, params.get("inplace", False), mutates=True)


# ---- grayscale ------------------------------------------------------------------------------------

@fills("grayscale")
def sample_grayscale(shape, generator, *, p):
    return {"apply": _mask(shape, generator, p)}


def apply_grayscale(x, params):
    return _on(x, params["apply"], lambda x, idx: gray(x).repeat(1, 3, 1, 1),  # 3 channels kept
               params.get("inplace", False))


# ---- blur -----------------------------------------------------------------------------------------

@fills("blur")
def sample_blur(shape, generator, *, sigma, p):
    """Gaussian blur, sigma ~ U(sigma) per sample. The kernel spans 10% of the image height made odd,
    as the official SimCLR code (radius = H // 10 // 2, k = 2 * radius + 1), and at least 3."""
    return {"apply": _mask(shape, generator, p), "sigma": _uniform(generator, (shape[0],), *sigma),
            "kernel_size": max(3, 2 * (shape[2] // 10 // 2) + 1)}


def apply_blur(x, params):
    """torchvision's gaussian_blur (reflect padding) with one separable kernel per sample, run as
    grouped convolutions over (sample, channel)."""
    k = params["kernel_size"]

    def blur(x, idx):
        n, C, H, W = x.shape
        t = torch.linspace(-(k - 1) / 2, (k - 1) / 2, k, device=x.device, dtype=x.dtype)
        kern = torch.softmax(-0.5 * (t / params["sigma"][idx, None]) ** 2, dim=1).repeat_interleave(C, 0)
        y = F.pad(x.reshape(1, n * C, H, W), (k // 2,) * 4, mode="reflect")
        y = F.conv2d(y, kern[:, None, None, :], groups=n * C)
        return F.conv2d(y, kern[:, None, :, None], groups=n * C).view(n, C, H, W)

    return _on(x, params["apply"], blur, params.get("inplace", False))


# ---- cutout ---------------------------------------------------------------------------------------

@fills("cutout")
def sample_cutout(shape, generator, *, size, value, p):
    """One square per sample, its side U(size) times the shorter image side (rounded, at least 1
    pixel), placed uniformly so that it lies fully inside the image (as torchvision's RandomErasing)."""
    B, _, H, W = shape
    side = (_uniform(generator, (B,), *size) * min(H, W)).round().clamp_(min=1).long()
    top = (_rand(generator, B) * (H - side + 1)).long().minimum(H - side)
    left = (_rand(generator, B) * (W - side + 1)).long().minimum(W - side)
    return {"apply": _mask(shape, generator, p), "top": top, "left": left, "side": side, "value": value}


def apply_cutout(x, params):
    _, _, H, W = x.shape
    top, left, side = params["top"][:, None], params["left"][:, None], params["side"][:, None]
    rows, cols = torch.arange(H, device=x.device), torch.arange(W, device=x.device)
    inside_r = (rows >= top) & (rows < top + side)
    inside_c = (cols >= left) & (cols < left + side)
    box = inside_r[:, :, None] & inside_c[:, None, :] & params["apply"][:, None, None]
    fill = x.masked_fill_ if params.get("inplace", False) else x.masked_fill
    return fill(box[:, None], params["value"])


# ---- sobel ----------------------------------------------------------------------------------------

@fills("sobel")
def sample_sobel(shape, generator, *, p):
    return {"apply": _mask(shape, generator, p)}


def apply_sobel(x, params):
    """Gradient magnitude of the luma under the 3x3 Sobel kernels (replicated border), divided by its
    per-image maximum so each image spans [0, max] = [0, 1] (a flat image gives 0), on 3 channels."""
    def sobel(x, idx):
        g = F.pad(gray(x), (1, 1, 1, 1), mode="replicate")
        rows = g[..., :-2, :] + 2 * g[..., 1:-1, :] + g[..., 2:, :]  # vertical smoothing
        cols = g[..., :, :-2] + 2 * g[..., :, 1:-1] + g[..., :, 2:]  # horizontal smoothing
        gx = rows[..., 2:] - rows[..., :-2]
        gy = cols[..., 2:, :] - cols[..., :-2, :]
        mag = torch.sqrt(gx * gx + gy * gy)
        return (mag / mag.amax((2, 3), keepdim=True).clamp(min=1e-12)).repeat(1, 3, 1, 1)

    return _on(x, params["apply"], sobel, params.get("inplace", False))


# ---- noise ----------------------------------------------------------------------------------------

@fills("noise")
def sample_noise(shape, generator, *, sigma, p):
    """Additive Gaussian noise, std U(sigma) per sample; the default range is centred on torchvision's
    GaussianNoise default of 0.1 and always visible. The standard normal field is a parameter too."""
    return {"apply": _mask(shape, generator, p), "sigma": _uniform(generator, (shape[0],), *sigma),
            "noise": torch.randn(shape, generator=generator, device=generator.device)}


def apply_noise(x, params):
    noise, sigma = params["noise"], params["sigma"]
    # x + sigma * n, clipped, as torchvision's gaussian_noise
    return _on(x, params["apply"], lambda x, idx: (x + noise[idx] * _col(sigma[idx])).clamp_(0, 1),
               params.get("inplace", False))


# ---- rotate ---------------------------------------------------------------------------------------

@fills("rotate")
def sample_rotate(shape, generator, *, p):
    """Rotation by k * 90 degrees counter-clockwise, k uniform in {1, 2, 3} (the paper's 90/180/270)."""
    k = torch.randint(1, 4, (shape[0],), generator=generator, device=generator.device)
    return {"apply": _mask(shape, generator, p), "k": k}


def apply_rotate(x, params):
    """torchvision's rotate(x, 90 * k); square images only, so that a batch keeps one shape."""
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"rotate needs square images, got {tuple(x.shape[-2:])}")
    k = torch.where(params["apply"], params["k"], 0)
    inplace = params.get("inplace", False)
    for r in (1, 2, 3):  # disjoint subsets, so each sample is rotated once
        y = _on(x, k == r, lambda x, idx, r=r: torch.rot90(x, r, (-2, -1)), inplace)
        inplace, x = inplace or y is not x, y  # after the first copy, write into it
    return x


# ---- autoaugment ----------------------------------------------------------------------------------

@fills("autoaugment")
def sample_autoaugment(shape, generator, *, policy, p):
    """Table 1's AutoAugment column: torchvision's learned policy (one of two sub-policy ops per image),
    per image on uint8 as the policy was searched. Each image gets a seed drawn from our generator."""
    seeds = torch.randint(0, 2**62, (shape[0],), generator=generator, device=generator.device)
    return {"apply": _mask(shape, generator, p), "seed": seeds.cpu(), "policy": policy}


def apply_autoaugment(x, params):
    from torchvision.transforms import v2

    policy = v2.AutoAugment(v2.AutoAugmentPolicy(params["policy"]))

    def per_image(x, idx):
        u8 = (x * 255).round_().to(torch.uint8)
        out = torch.empty_like(u8)
        with torch.random.fork_rng(devices=[]):  # torchvision draws from the global CPU generator
            for i, j in enumerate(idx.tolist()):
                torch.default_generator.manual_seed(int(params["seed"][j]))
                out[i] = policy(u8[i])
        return out.float().div_(255)

    return _on(x, params["apply"], per_image, params.get("inplace", False))


# ---- table, validation, entry point ---------------------------------------------------------------

OPS = {name: (globals()[f"sample_{name}"], globals()[f"apply_{name}"]) for name in DEFAULTS}


class Rows(NamedTuple):
    """The rows (``index``, int64) of a global batch of ``total`` samples that one process holds;
    ``first`` when they are the block first, first + 1, ... (a process's share of a batch): known on
    the host, so a chunk's share of them is a slice, found without reading the device."""
    index: torch.Tensor
    total: int
    first: int | None = None


def augment(x, name, generator, rows: Rows | None = None, *, inplace: bool = False, **params):
    """Sample parameters for op ``name`` and apply them to the batch x.

    Without ``inplace`` x is never written: the result is x itself (no sample was touched) or a new
    tensor. With ``inplace`` the op may write into x and return it, so pass it only for a tensor that
    nobody else reads (a pipeline's own intermediate batch, never the caller's images).

    With ``rows``, x holds only those rows of a global batch: the parameters are drawn for the whole
    batch (every process draws the same from its copy of the generator) and each process applies its
    rows', so a multi-process run makes exactly the views of a one-process run while each process
    augments only its own images."""
    check_op(name, params)
    if generator.device != x.device:
        raise ValueError(f"generator is on {generator.device} but the batch is on {x.device}")
    sample, apply = OPS[name]
    if rows is None:
        return apply(x, {**sample(x.shape, generator, **params), "inplace": inplace})
    if len(rows.index) != len(x):
        raise ValueError(f"rows names {len(rows.index)} samples but the batch holds {len(x)}")
    drawn = sample((rows.total, *x.shape[1:]), generator, **params)
    for k, v in drawn.items():  # every tensor a sample_<op> returns must be per sample
        if torch.is_tensor(v):
            if v.shape[0] != rows.total:
                raise AssertionError(f"{name}: parameter {k!r} is not one row per sample: {tuple(v.shape)}")
            drawn[k] = v[rows.index.to(v.device)]
    return apply(x, {**drawn, "inplace": inplace})
