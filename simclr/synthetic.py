"""Built-in labelled image set, generated from a seed, that exercises SimCLR's mechanisms.

Each image is one shape on a plain background with clutter behind it:

* Colour identifies the image, not the class. Background, foreground and clutter colours are drawn
  per image, independently of the label (the foreground is kept well apart from the background so
  the shape stays visible). Two crops of one image therefore share a colour histogram that few other
  images have: the shortcut that solves the contrastive objective without learning anything about the
  class, and the one that colour distortion removes (paper Figure 6). A colour statistic predicts the
  class only at chance.
* Shape and texture carry the class. Ten families (disk, square, triangle, ring, plus, striped disk,
  checker square, star, two dots, square frame), several of which share an outline and differ only
  in texture, drawn at a random position, scale and rotation, so a representation has to become
  invariant to where and how large the object is: what random crops teach.
* Clutter: small blobs and bars in random colours at random places, behind the shape. Colour
  distortion leaves this layout intact, so views that differ only in colour can still be matched by
  it; crops remove most of it. It is meant to hold colour-only augmentation below crop + colour in
  the paper's one-branch protocol (Figure 5). With the default 8 small items, colour-only training
  can still match crop then colour in that protocol, so `clutter` and `clutter_size` are arguments
  a study can raise.
* Pixel noise (uniform integers, sigma about 0.03), so that no two renderings are exactly alike.

Too easy a set (large centred shapes, no clutter) lets colour-only training win; too hard a set
(full rotation, tiny shapes) learns nothing in a CPU budget. The defaults sit between the two.

Bit-identical from the seed on any machine: every random number comes from a CPU torch.Generator,
colours and noise are integers, and the geometry uses only +, -, *, /, sqrt and floor (exact or
correctly rounded in IEEE arithmetic, whatever the vector width) with no transcendental functions,
whose last bits can differ between CPUs: the rotation comes from a random tangent, the star from a
Chebyshev polynomial. (Checked equal under ATEN_CPU_CAPABILITY=default, avx2 and avx512.)
"""

import torch

SHAPES = ("disk", "square", "triangle", "ring", "plus", "striped_disk", "checker_square", "star",
          "two_dots", "square_frame")

TEST_SEED_OFFSET = 1_000_003  # test images come from seed + this, so they never repeat train images

_CHUNK = 2048  # images rendered at once: bounds memory; fixed so results do not depend on it


def _shape_mask(cls: int, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Inside-test for shape family `cls` in its own frame (unit radius, centred, unrotated)."""
    au, av = u.abs(), v.abs()
    rho2 = u * u + v * v
    box = torch.maximum(au, av)
    if cls == 0:  # disk
        return rho2 <= 1.0
    if cls == 1:  # square, area close to the disk's
        return box <= 0.85
    if cls == 2:  # equilateral triangle inscribed in the unit circle
        return (v >= -0.5) & (v <= 1.0 - 1.7320508075688772 * au)
    if cls == 3:  # ring
        return (rho2 <= 1.0) & (rho2 >= 0.55 * 0.55)
    if cls == 4:  # plus
        return (box <= 1.0) & (torch.minimum(au, av) <= 0.3)
    if cls == 5:  # disk with stripes: same outline as class 0
        return (rho2 <= 1.0) & (torch.floor((u + 2.0) * 2.5).remainder(2) == 0)
    if cls == 6:  # checkerboard square: same outline as class 1
        return (box <= 0.85) & ((torch.floor((u + 2.0) * 2.5) + torch.floor((v + 2.0) * 2.5)).remainder(2) == 0)
    if cls == 7:  # five-pointed star; cos(5 phi) as the Chebyshev polynomial T5(cos phi), no atan2
        rho = rho2.sqrt()
        c = v / rho.clamp_min(1e-9)
        t5 = ((16.0 * c * c - 20.0) * c * c + 5.0) * c
        lobe = 0.5 + 0.5 * t5
        return rho <= 0.4 + 0.6 * lobe * lobe
    if cls == 8:  # two dots
        return (au - 0.55) * (au - 0.55) + v * v <= 0.42 * 0.42
    if cls == 9:  # square frame: same outline as class 1, hollow
        return (box <= 0.9) & (box >= 0.55)
    raise ValueError(f"no shape family {cls}")


def make_synthetic(n: int, seed: int, size: int = 32, num_classes: int = 10, *, clutter: int = 8,
                   clutter_size: tuple[float, float] = (0.04, 0.1), scale: tuple[float, float] = (0.5, 0.85),
                   max_rotation: float = 1.0, noise: float = 0.03,
                   centred: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Images uint8 (n, 3, size, size) and labels int64 (n,), a deterministic function of the arguments.

    Classes are exactly balanced (n // num_classes each, the first n % num_classes classes get one more)
    in a random order. `clutter`: blobs/bars per image; `clutter_size`: their radius range as a
    fraction of the image side (bars are twice as long and a third as wide); `scale`: shape radius
    range as a fraction of the half-image; `max_rotation`: rotation range as tan(angle), so 1.0 is
    +-45 degrees; `noise`: pixel noise sigma in [0, 1] units; `centred`: shapes at the image centre
    (scale and rotation still vary), for probing what the shapes alone carry.
    """
    if not 1 <= num_classes <= len(SHAPES):
        raise ValueError(f"num_classes must be in 1..{len(SHAPES)} (one shape family each), got {num_classes}")
    if n < 0 or size < 4 or not 0 <= clutter <= 200:
        raise ValueError(f"need n >= 0, size >= 4 and 0 <= clutter <= 200, got n={n}, size={size}, clutter={clutter}")
    g = torch.Generator().manual_seed(int(seed))
    f64 = torch.float64  # parameters drawn in float64; pixels computed in float32 (half the memory traffic)

    labels = (torch.arange(n) % num_classes)[torch.randperm(n, generator=g)]

    # Per-image parameters, all drawn up front so each image depends only on (seed, n).
    radius = scale[0] + (scale[1] - scale[0]) * torch.rand(n, generator=g, dtype=f64)
    reach = (1.1 - radius).clamp_min(0.15)
    centre = (2.0 * torch.rand(n, 2, generator=g, dtype=f64) - 1.0) * reach[:, None]
    if centred:
        centre.zero_()
    # Rotation from a random tangent t: (cos, sin) = (1, t) / sqrt(1 + t^2), no trig functions.
    tan = max_rotation * (2.0 * torch.rand(n, generator=g, dtype=f64) - 1.0)
    cos = 1.0 / (1.0 + tan * tan).sqrt()
    sin = tan * cos

    background = torch.randint(0, 256, (n, 3), generator=g).to(torch.int16)
    # Foreground: the first of 8 candidates far enough from the background, else the farthest one.
    candidates = torch.randint(0, 256, (n, 8, 3), generator=g)
    dist2 = ((candidates - background[:, None]) ** 2).sum(-1)
    far = dist2 >= 128 ** 2
    pick = torch.where(far.any(1), far.int().argmax(1), dist2.argmax(1))
    foreground = candidates[torch.arange(n), pick].to(torch.int16)

    k = clutter
    lo, hi = clutter_size
    c_centre = 2.0 * torch.rand(n, k, 2, generator=g, dtype=f64) - 1.0
    c_radius = 2.0 * (lo + (hi - lo) * torch.rand(n, k, generator=g, dtype=f64))  # image side is 2 units
    c_bar = torch.rand(n, k, generator=g) < 0.5
    c_vertical = torch.rand(n, k, generator=g) < 0.5
    c_colour = torch.randint(0, 256, (n, k, 3), generator=g).to(torch.int16)

    # Pixel centres in [-1, 1]; y grows downwards like image rows.
    f32 = torch.float32
    axis = (torch.arange(size, dtype=f32) + 0.5) * (2.0 / size) - 1.0
    ys, xs = axis[:, None], axis[None, :]
    # Noise: uniform integers in [-a, a], variance a (a + 1) / 3 in levels (one draw per value: cheap).
    amp = 0
    if noise > 0:
        amp = max(1, round((-1.0 + (1.0 + 12.0 * (noise * 255.0) ** 2) ** 0.5) / 2.0))
    # Palette per image: 0 background, 1..k clutter, k + 1 foreground; each pixel picks one entry.
    palette = torch.cat([background[:, None], c_colour, foreground[:, None]], 1)

    out = torch.empty(n, 3, size, size, dtype=torch.uint8)
    for s in range(0, n, _CHUNK):
        e = min(n, s + _CHUNK)
        m = e - s
        # Clutter, all k items at once (m, k, H, W); a later item covers an earlier one. Items are
        # axis-aligned, so distances separate into a row part and a column part.
        dx = xs - c_centre[s:e, :, 0, None, None].to(f32)  # (m, k, 1, W)
        dy = ys - c_centre[s:e, :, 1, None, None].to(f32)  # (m, k, H, 1)
        r = c_radius[s:e, :, None, None].to(f32)
        long, thin = 2.0 * r, 0.35 * r
        vert = c_vertical[s:e, :, None, None]
        bar = (dx.abs() <= torch.where(vert, thin, long)) & (dy.abs() <= torch.where(vert, long, thin))
        blob = dx * dx + dy * dy <= r * r
        hit = torch.where(c_bar[s:e, :, None, None], bar, blob)
        layer = (hit * torch.arange(1, k + 1, dtype=torch.uint8)[:, None, None]).amax(1) if k else \
            torch.zeros(m, size, size, dtype=torch.uint8)
        # Shape frame: translate, rotate by -angle, scale to unit radius.
        px = xs - centre[s:e, 0, None, None].to(f32)
        py = ys - centre[s:e, 1, None, None].to(f32)
        c, sn = cos[s:e, None, None].to(f32), sin[s:e, None, None].to(f32)
        inv = (1.0 / radius[s:e, None, None]).to(f32)
        u = (c * px + sn * py) * inv
        v = (c * py - sn * px) * inv
        shape = torch.zeros(m, size, size, dtype=torch.bool)
        lab = labels[s:e]
        for cls in range(num_classes):
            idx = (lab == cls).nonzero().squeeze(1)
            if idx.numel():
                shape[idx] = _shape_mask(cls, u[idx], -v[idx])  # -v: "up" is towards row 0
        layer = torch.where(shape, k + 1, layer).view(m, 1, size * size).long()
        img = torch.gather(palette[s:e].transpose(1, 2), 2, layer.expand(m, 3, size * size))
        img = img.view(m, 3, size, size)
        if amp:
            img += torch.randint(-amp, amp + 1, (m, 3, size, size), generator=g, dtype=torch.int16)
        out[s:e] = img.clamp_(0, 255).to(torch.uint8)
    return out, labels


def synthetic_splits(num_train: int, num_test: int, seed: int, size: int = 32, num_classes: int = 10,
                     **kwargs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train_images, train_labels, test_images, test_labels); the test set uses seed + TEST_SEED_OFFSET."""
    train = make_synthetic(num_train, seed, size, num_classes, **kwargs)
    test = make_synthetic(num_test, seed + TEST_SEED_OFFSET, size, num_classes, **kwargs)
    return train[0], train[1], test[0], test[1]
