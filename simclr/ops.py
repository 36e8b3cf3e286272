"""The augmentation ops a recipe may name: each op's parameters with their defaults, the check of a
given set, and the paper's SimCLR recipe. Plain Python, no torch: the config reads it to spell every
op out (so equal recipes hash equally) and simclr/augment.py implements each op on a batch.
"""
import math

AUTOAUGMENT_POLICIES = ("imagenet", "cifar10", "svhn")

# name -> every parameter with its default; p is the probability that a sample gets the op
DEFAULTS: dict[str, dict] = {
    "crop": {"scale": (0.08, 1.0), "ratio": (3 / 4, 4 / 3), "size": None, "interpolation": "bicubic",
             "p": 1.0},
    "flip": {"p": 0.5},
    # brightness, contrast, saturation None: 0.8 * strength; hue None: 0.2 * strength
    "color_jitter": {"strength": 1.0, "brightness": None, "contrast": None, "saturation": None, "hue": None,
                     "brightness_mode": "additive", "p": 0.8},
    "grayscale": {"p": 0.2},
    "blur": {"sigma": (0.1, 2.0), "p": 0.5},
    "cutout": {"size": (0.25, 0.5), "value": 0.0, "p": 1.0},
    "sobel": {"p": 1.0},
    "noise": {"sigma": (0.05, 0.15), "p": 1.0},
    "rotate": {"p": 1.0},
    "autoaugment": {"policy": "imagenet", "p": 1.0},
}


def simclr_recipe(strength: float = 0.5, blur: bool = False, crop_scale=(0.08, 1.0), flip: bool = True,
                  brightness_mode: str = "additive") -> list[tuple[str, dict]]:
    """The paper's augmentation, the one place it is written: random resized crop (+ horizontal flip),
    colour jitter of strength s with p 0.8, grayscale with p 0.2, Gaussian blur with p 0.5 (the paper
    drops it on CIFAR-10)."""
    ops = [("crop", {"scale": tuple(crop_scale)})] + ([("flip", {"p": 0.5})] if flip else [])
    ops += [("color_jitter", {"strength": strength, "brightness_mode": brightness_mode, "p": 0.8}),
            ("grayscale", {"p": 0.2})]
    return ops + [("blur", {"p": 0.5})] if blur else ops


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _pair(v, lo, hi, lo_open=False):
    """A (min, max) pair with lo <= min <= max <= hi (lo < min when lo_open)."""
    return (isinstance(v, (tuple, list)) and len(v) == 2 and all(map(_num, v))
            and (v[0] > lo if lo_open else v[0] >= lo) and v[0] <= v[1] <= hi)


def check_op(name, params):
    """Raise ValueError naming the unknown op, unknown parameter or impossible value."""
    if name not in DEFAULTS:
        raise ValueError(f"unknown augmentation op {name!r}; valid ops: {', '.join(DEFAULTS)}")
    defaults = DEFAULTS[name]
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for op {name!r}; valid: {', '.join(defaults)}")
    q = {**defaults, **params}

    def need(ok, what):
        if not ok:
            raise ValueError(f"{name}: {what}, got {params}")

    need(_num(q["p"]) and 0 <= q["p"] <= 1, "p must be in [0, 1]")
    if name == "crop":
        need(_pair(q["scale"], 0, 1, lo_open=True), "scale must be (min, max) with 0 < min <= max <= 1")
        need(_pair(q["ratio"], 0, math.inf, lo_open=True), "ratio must be (min, max) with 0 < min <= max")
        need(q["size"] is None or (isinstance(q["size"], int) and not isinstance(q["size"], bool)
                                   and q["size"] > 0), "size must be None or a positive int")
        need(q["interpolation"] in ("bilinear", "bicubic"), "interpolation must be 'bilinear' or 'bicubic'")
    elif name == "color_jitter":
        need(_num(q["strength"]) and q["strength"] >= 0, "strength must be >= 0")
        for key in ("brightness", "contrast", "saturation"):
            need(q[key] is None or (_num(q[key]) and q[key] >= 0), f"{key} must be None or >= 0")
        hue = 0.2 * q["strength"] if q["hue"] is None else q["hue"]
        need(_num(hue) and 0 <= hue <= 0.5, "hue (default 0.2 * strength) must be in [0, 0.5]")
        need(q["brightness_mode"] in ("additive", "multiplicative"),
             "brightness_mode must be 'additive' or 'multiplicative'")
    elif name == "blur":
        need(_pair(q["sigma"], 0, math.inf, lo_open=True), "sigma must be (min, max) with 0 < min <= max")
    elif name == "cutout":
        need(_pair(q["size"], 0, 1, lo_open=True), "size must be (min, max) with 0 < min <= max <= 1")
        need(_num(q["value"]), "value must be a number")
    elif name == "noise":
        need(_pair(q["sigma"], 0, math.inf), "sigma must be (min, max) with 0 <= min <= max")
    elif name == "autoaugment":
        need(q["policy"] in AUTOAUGMENT_POLICIES, f"policy must be one of {', '.join(AUTOAUGMENT_POLICIES)}")
