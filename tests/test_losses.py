"""Oracle tests for simclr.losses: loop transcriptions of the paper's formulas and closed forms."""

import math

import pytest
import torch
import torch.nn.functional as F

from simclr.losses import (
    LOSSES,
    contrastive_loss,
    contrastive_metrics,
    margin_triplet,
    nt_logistic,
    nt_xent,
)


def _randn(n, d, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype)


def _pair(n, d, seed, dtype=torch.float64, noise=0.7):
    """Correlated views: z2 = z1 + noise, with the first pair anti-aligned so that
    some anchors have their positive as the LEAST similar candidate."""
    z1 = _randn(n, d, seed, dtype)
    z2 = z1 + noise * _randn(n, d, seed + 1000, dtype)
    z2[0] = -z1[0] + 0.1 * _randn(1, d, seed + 2000, dtype)[0]
    return z1, z2


# ---- naive transcriptions (python loops over scalars, float64) -------------


def _views_interleaved(z1, z2, l2):
    """Algorithm 1's indexing: z_{2k-1} = view 1 of image k, z_{2k} = view 2 (0-based here)."""
    views = []
    for k in range(z1.shape[0]):
        views += [z1[k].double(), z2[k].double()]
    if l2:
        views = [v / v.norm() for v in views]
    return views


def _s(u, v):
    return sum(float(a) * float(b) for a, b in zip(u, v))


def _naive_nt_xent(z1, z2, t, l2, negatives="all"):
    views = _views_interleaved(z1, z2, l2)
    m = len(views)
    s = [[_s(views[i], views[j]) for j in range(m)] for i in range(m)]

    def in_denominator(i, k):
        if k == i:
            return False
        # "other_view": only views of the opposite augmentation (the positive is one of them).
        return negatives == "all" or (k % 2) != (i % 2)

    def l(i, j):
        denom = sum(math.exp(s[i][k] / t) for k in range(m) if in_denominator(i, k))
        return -math.log(math.exp(s[i][j] / t) / denom)

    n = z1.shape[0]
    return sum(l(2 * k, 2 * k + 1) + l(2 * k + 1, 2 * k) for k in range(n)) / (2 * n)


def _naive_table2(z1, z2, kind, param, l2, semi_hard, negatives, branches=None):
    """NT-Logistic (param = t) or margin triplet (param = m), one anchor at a time."""
    views = _views_interleaved(z1, z2, l2)
    m = len(views)

    def term(s_pos, s_neg):
        if kind == "logistic":
            log_sig = lambda x: -math.log1p(math.exp(-x))  # noqa: E731
            return -log_sig(s_pos / param), -log_sig(-s_neg / param)
        return 0.0, max(s_neg - s_pos + param, 0.0)

    total = 0.0
    for i in range(m):
        p = i + 1 if i % 2 == 0 else i - 1
        s_pos = _s(views[i], views[p])
        negs = [
            _s(views[i], views[k])
            for k in range(m)
            if k not in (i, p) and (negatives == "all" or k % 2 != i % 2)
        ]
        pos_term = term(s_pos, 0.0)[0]
        if semi_hard:
            farther = [s for s in negs if s < s_pos]
            chosen = max(farther) if farther else min(negs)
            if branches is not None:
                branches.add("semi_hard" if farther else "fallback")
            neg_term = term(s_pos, chosen)[1]
        else:
            neg_term = sum(term(s_pos, s)[1] for s in negs) / len(negs)
        total += pos_term + neg_term
    return total / m


# ---- NT-Xent --------------------------------------------------------------


@pytest.mark.parametrize("n,d", [(2, 3), (3, 5), (6, 4)])
@pytest.mark.parametrize("t", [0.1, 0.5, 1.0])
@pytest.mark.parametrize("l2", [True, False])
@pytest.mark.parametrize("negatives", ["all", "other_view"])
def test_nt_xent_matches_algorithm_1(n, d, t, l2, negatives):
    z1, z2 = _pair(n, d, seed=n * 10 + d)
    if not l2:
        z1, z2 = 0.5 * z1, 0.5 * z2  # keep raw dot products / t in a moderate range
    got = nt_xent(z1, z2, temperature=t, l2_normalize=l2, negatives=negatives)
    want = _naive_nt_xent(z1, z2, t, l2, negatives)
    assert got.dtype == torch.float64
    assert got.item() == pytest.approx(want, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("n", [2, 5])
@pytest.mark.parametrize("t", [0.05, 0.5])
def test_nt_xent_identical_views_is_log_2n_minus_1(n, t):
    z = torch.tensor([[3.0, -4.0, 0.0]], dtype=torch.float64).repeat(n, 1)
    assert nt_xent(z, z, t).item() == pytest.approx(math.log(2 * n - 1), rel=1e-12)
    assert nt_xent(z, z, t, negatives="other_view").item() == pytest.approx(math.log(n), rel=1e-12)


def _orthogonal_pairs(n, theta):
    """z1[i] = e_i, z2[i] = cos(theta) e_i + sin(theta) e_{n+i}: every cross-image
    similarity is 0 and every positive similarity is cos(theta)."""
    eye = torch.eye(2 * n, dtype=torch.float64)
    z1 = eye[:n]
    z2 = math.cos(theta) * eye[:n] + math.sin(theta) * eye[n:]
    return z1, z2


@pytest.mark.parametrize("n,theta,t", [(2, 0.0, 0.5), (3, 0.7, 0.1), (5, 1.2, 1.0)])
def test_closed_forms_on_orthogonal_pairs(n, theta, t):
    z1, z2 = _orthogonal_pairs(n, theta)
    c = math.cos(theta)
    for negatives, k in [("all", 2 * (n - 1)), ("other_view", n - 1)]:
        # -log(e^{c/t} / (e^{c/t} + k e^0))
        want = math.log1p(k * math.exp(-c / t))
        assert nt_xent(z1, z2, t, negatives=negatives).item() == pytest.approx(want, rel=1e-12)
        # -log sig(c/t) - log sig(0) for every negative
        want = math.log1p(math.exp(-c / t)) + math.log(2.0)
        for sh in (False, True):
            got = nt_logistic(z1, z2, t, semi_hard=sh, negatives=negatives)
            assert got.item() == pytest.approx(want, rel=1e-12)
    for m in (0.0, 0.4, 1.6):
        want = max(m - c, 0.0)
        assert margin_triplet(z1, z2, m).item() == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("l2", [True, False])
def test_nt_xent_equals_cross_entropy_and_official_is_twice(l2):
    n, t = 7, 0.2
    z1, z2 = _pair(n, 6, seed=3)
    z = torch.cat([z1, z2])
    if l2:
        z = F.normalize(z, dim=1)
    logits = z @ z.T / t
    logits.fill_diagonal_(-1e9)
    targets = (torch.arange(2 * n) + n) % (2 * n)
    ce = F.cross_entropy(logits, targets)
    got = nt_xent(z1, z2, t, l2_normalize=l2)
    torch.testing.assert_close(got, ce, rtol=1e-12, atol=1e-12)

    # Official TF layout: loss_a on [logits_ab, logits_aa], loss_b on [logits_ba, logits_bb].
    a, b = z[:n], z[n:]
    big = 1e9 * torch.eye(n, dtype=z.dtype)
    labels = torch.arange(n)
    loss_a = F.cross_entropy(torch.cat([a @ b.T, a @ a.T - big * t], 1) / t, labels)
    loss_b = F.cross_entropy(torch.cat([b @ a.T, b @ b.T - big * t], 1) / t, labels)
    torch.testing.assert_close(loss_a + loss_b, 2 * got, rtol=1e-12, atol=1e-12)

    # other_view keeps only the opposite view's columns.
    one_view = 0.5 * (F.cross_entropy(a @ b.T / t, labels) + F.cross_entropy(b @ a.T / t, labels))
    got = nt_xent(z1, z2, t, l2_normalize=l2, negatives="other_view")
    torch.testing.assert_close(got, one_view, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("negatives", ["all", "other_view"])
def test_symmetric_in_views_and_scale_invariant(name, negatives):
    z1, z2 = _pair(5, 4, seed=11)
    loss = LOSSES[name](z1, z2, negatives=negatives)
    swapped = LOSSES[name](z2, z1, negatives=negatives)
    torch.testing.assert_close(swapped, loss, rtol=1e-12, atol=1e-12)
    scales = torch.linspace(0.1, 30.0, 5, dtype=torch.float64)[:, None]
    scaled = LOSSES[name](z1 * scales, z2 * scales.flip(0) * 3.0, negatives=negatives)
    torch.testing.assert_close(scaled, loss, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "fn,kwargs",
    [
        (nt_xent, {"temperature": 0.3}),
        (nt_xent, {"temperature": 0.7, "l2_normalize": False, "negatives": "other_view"}),
        (nt_logistic, {"temperature": 0.3}),
        (nt_logistic, {"temperature": 0.5, "semi_hard": True}),
        (margin_triplet, {"margin": 0.8}),
    ],
)
def test_gradcheck(fn, kwargs):
    z1, z2 = _pair(3, 4, seed=5)
    z1.requires_grad_(True)
    z2.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: fn(a, b, **kwargs), (z1, z2), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradient_descent_on_free_z_decreases_loss(name):
    z1, z2 = _pair(8, 6, seed=17, dtype=torch.float32, noise=1.5)
    z1.requires_grad_(True)
    z2.requires_grad_(True)
    opt = torch.optim.SGD([z1, z2], lr=0.5)
    losses = []
    for _ in range(20):
        loss = LOSSES[name](z1, z2)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(b < a for a, b in zip(losses, losses[1:]))
    assert losses[-1] < 0.9 * losses[0]


# ---- NT-Logistic and margin triplet vs Table 2 ----------------------------


@pytest.mark.parametrize("semi_hard", [False, True])
@pytest.mark.parametrize("negatives", ["all", "other_view"])
@pytest.mark.parametrize("l2", [True, False])
def test_nt_logistic_matches_table_2(semi_hard, negatives, l2):
    z1, z2 = _pair(6, 3, seed=21)
    branches = set()
    for t in (0.1, 0.5):
        got = nt_logistic(z1, z2, t, l2_normalize=l2, semi_hard=semi_hard, negatives=negatives)
        want = _naive_table2(z1, z2, "logistic", t, l2, semi_hard, negatives, branches)
        assert got.item() == pytest.approx(want, rel=1e-10)
    if semi_hard:
        assert branches == {"semi_hard", "fallback"}  # both rules exercised


@pytest.mark.parametrize("semi_hard", [False, True])
@pytest.mark.parametrize("negatives", ["all", "other_view"])
@pytest.mark.parametrize("l2", [True, False])
def test_margin_triplet_matches_table_2(semi_hard, negatives, l2):
    z1, z2 = _pair(6, 3, seed=23)
    branches = set()
    for m in (0.0, 0.4, 1.6):
        got = margin_triplet(z1, z2, m, l2_normalize=l2, semi_hard=semi_hard, negatives=negatives)
        want = _naive_table2(z1, z2, "margin", m, l2, semi_hard, negatives, branches)
        assert got.item() == pytest.approx(want, rel=1e-10, abs=1e-12)
    if semi_hard:
        assert branches == {"semi_hard", "fallback"}


def test_semi_hard_choice_by_hand():
    # N = 2 unit vectors at angles (degrees): a0=z1[0], a1=z1[1], b0=z2[0], b1=z2[1].
    deg = lambda a: [math.cos(math.radians(a)), math.sin(math.radians(a))]  # noqa: E731
    c = lambda a: math.cos(math.radians(a))  # noqa: E731
    z1 = torch.tensor([deg(0), deg(15)], dtype=torch.float64)
    z2 = torch.tensor([deg(40), deg(70)], dtype=torch.float64)
    m = 0.4
    per_anchor = [
        # a0: pos c40; negs a1 c15 (harder), b1 c70 (semi-hard, but outside the margin)
        max(c(70) - c(40) + m, 0.0),
        # b0: pos c40; negs a1 c25, b1 c30 both harder -> fallback to the less similar b1
        c(30) - c(40) + m,
        # a1: pos c55; negs a0 c15, b0 c25 both harder -> fallback to b0
        c(25) - c(55) + m,
        # b1: pos c55; negs a0 c70 (semi-hard, inside the margin), b0 c30 (harder)
        c(70) - c(55) + m,
    ]
    assert per_anchor[0] == 0.0 and per_anchor[3] > 0.0
    got = margin_triplet(z1, z2, m, semi_hard=True)
    assert got.item() == pytest.approx(sum(per_anchor) / 4, rel=1e-12)


def test_semi_hard_requires_strictly_less_similar():
    # a0=e1, a1=e2, b0=e1, b1=e1: exact ties between positives and negatives.
    e1, e2 = [1.0, 0.0], [0.0, 1.0]
    z1 = torch.tensor([e1, e2], dtype=torch.float64)
    z2 = torch.tensor([e1, e1], dtype=torch.float64)
    m = 0.4
    per_anchor = [
        0.0,  # a0: pos 1; a1 (0) is semi-hard, b1 (1) ties and is not -> hinge max(0 - 1 + m, 0)
        m,  # a1: pos 0; a0, b0 both tie at 0 -> fallback, hinge m
        0.0,  # b0: like a0
        1.0 + m,  # b1: pos 0; a0, b0 at 1 -> fallback, hinge 1 + m
    ]
    got = margin_triplet(z1, z2, m, semi_hard=True)
    assert got.item() == pytest.approx(sum(per_anchor) / 4, rel=1e-12)


# ---- precision -------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_bf16_inputs_low_temperature(name):
    z1, z2 = _pair(16, 32, seed=31, dtype=torch.float32)
    param = {"margin_triplet": {}}.get(name, {"temperature": 0.05})
    ref = LOSSES[name](z1, z2, **param)
    b1, b2 = z1.bfloat16(), z2.bfloat16()
    got = LOSSES[name](b1, b2, **param)
    assert got.dtype == torch.float32 and torch.isfinite(got)
    # Computed in float32 from the bf16 inputs: identical to casting them first.
    torch.testing.assert_close(got, LOSSES[name](b1.float(), b2.float(), **param), rtol=0, atol=0)
    # Only the bf16 rounding of z (rel. 2^-8) separates it from the float32 loss.
    torch.testing.assert_close(got, ref, rtol=0.05, atol=0.02)
    # Autocast must not push the similarities back to bf16.
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = LOSSES[name](z1, z2, **param)
    assert under_autocast.dtype == torch.float32
    torch.testing.assert_close(under_autocast, ref, rtol=1e-6, atol=1e-6)


def test_large_unnormalized_z_low_temperature_stays_finite():
    # |z| ~ 100: raw logits ~ 1e4 / 0.05 = 2e5, beyond the float16 range (65504).
    z1, z2 = _pair(8, 16, seed=41, dtype=torch.float64)
    z1, z2 = 25.0 * z1, 25.0 * z2
    h1, h2 = z1.half(), z2.half()
    # The overflow being avoided: these logits do not fit in float16.
    assert torch.isinf((h1.float() @ h2.float().T / 0.05).half()).any()
    # Float64 oracle (cross entropy on the (2N, 2N) logits) from the same half inputs.
    z = torch.cat([h1, h2]).double()
    logits = (z @ z.T / 0.05).fill_diagonal_(-math.inf)
    exact = F.cross_entropy(logits, (torch.arange(16) + 8) % 16).item()
    got = nt_xent(h1, h2, 0.05, l2_normalize=False)
    assert torch.isfinite(got)
    assert got.item() == pytest.approx(exact, rel=1e-4)
    for fn, kw in [(nt_logistic, {"temperature": 0.05}), (margin_triplet, {})]:
        assert torch.isfinite(fn(h1, h2, l2_normalize=False, **kw))


# ---- contrastive metrics ---------------------------------------------------


def _naive_metrics(z1, z2, t, l2, negatives):
    views = _views_interleaved(z1, z2, l2)
    m = len(views)
    hits, entropy = 0, 0.0
    for i in range(m):
        p = i + 1 if i % 2 == 0 else i - 1
        cands = [k for k in range(m) if k != i and (negatives == "all" or k % 2 != i % 2)]
        sims = {k: _s(views[i], views[k]) for k in cands}
        hits += max(cands, key=lambda k: sims[k]) == p
        w = [math.exp(sims[k] / t) for k in cands]
        probs = [x / sum(w) for x in w]
        entropy -= sum(q * math.log(q) for q in probs if q > 0)
    return hits / m, entropy / m


@pytest.mark.parametrize("negatives", ["all", "other_view"])
@pytest.mark.parametrize("l2,t", [(True, 0.1), (True, 1.0), (False, 0.5)])
def test_contrastive_metrics_match_loops(negatives, l2, t):
    z1, z2 = _pair(7, 4, seed=51, noise=1.0)
    got = contrastive_metrics(z1, z2, t, l2_normalize=l2, negatives=negatives)
    acc, ent = _naive_metrics(z1, z2, t, l2, negatives)
    assert got["contrastive_acc"].item() == pytest.approx(acc, abs=1e-12)
    assert got["entropy"].item() == pytest.approx(ent, rel=1e-10)
    assert 0.0 < acc < 1.0  # the case is not trivial


def test_contrastive_metrics_hand_cases():
    n = 4
    z1, _ = _orthogonal_pairs(n, 0.0)
    perfect = contrastive_metrics(z1, z1.clone(), 0.05)
    assert perfect["contrastive_acc"].item() == 1.0
    assert perfect["entropy"].item() < 1e-6  # positive carries nearly all mass at t=0.05
    same = torch.ones(n, 3, dtype=torch.float64)
    uniform = contrastive_metrics(same, same, 0.5)
    assert uniform["entropy"].item() == pytest.approx(math.log(2 * n - 1), rel=1e-12)
    uniform = contrastive_metrics(same, same, 0.5, negatives="other_view")
    assert uniform["entropy"].item() == pytest.approx(math.log(n), rel=1e-12)
    z1.requires_grad_(True)
    out = contrastive_metrics(z1, z1 * 2, 0.5)
    assert not out["entropy"].requires_grad


# ---- dispatch and argument checks -------------------------------------------


def test_contrastive_loss_dispatch_and_errors():
    z1, z2 = _pair(4, 3, seed=61)
    for name, fn in LOSSES.items():
        got = contrastive_loss(name, z1, z2, negatives="other_view")
        torch.testing.assert_close(got, fn(z1, z2, negatives="other_view"))
    got = contrastive_loss("nt_xent", z1, z2, temperature=0.1)
    assert got.item() == nt_xent(z1, z2, 0.1).item()
    with pytest.raises(ValueError, match="margin_triplet.*nt_logistic.*nt_xent"):
        contrastive_loss("infonce", z1, z2)
    with pytest.raises(ValueError, match=r"unknown parameter.*\['margin'\].*temperature"):
        contrastive_loss("nt_xent", z1, z2, margin=0.4)
    with pytest.raises(ValueError, match="negatives"):
        nt_xent(z1, z2, negatives="one_view")
    with pytest.raises(ValueError, match="shape"):
        nt_xent(z1, z2[:3])
    with pytest.raises(ValueError, match="N >= 2"):
        margin_triplet(z1[:1], z2[:1])
    with pytest.raises(ValueError, match="temperature"):
        nt_logistic(z1, z2, temperature=0.0)


@pytest.mark.parametrize("negatives", ["all", "other_view"])
@pytest.mark.parametrize("name, params", [("nt_xent", {"temperature": 0.2}), ("nt_logistic", {"semi_hard": True}),
                                          ("nt_logistic", {}), ("margin_triplet", {"semi_hard": True}),
                                          ("margin_triplet", {"margin": 0.3})])
def test_blocks_of_anchors_add_up_to_the_whole_loss_and_gradient(name, params, negatives):
    """The gradient cache's blockwise loss: the shares of a partition of the anchors (uneven blocks)
    sum to the loss and gradient of the whole batch; so do the metrics."""
    g = torch.Generator().manual_seed(3)
    z1 = torch.randn(10, 6, generator=g, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(10, 6, generator=g, dtype=torch.float64, requires_grad=True)
    whole = contrastive_loss(name, z1, z2, negatives=negatives, **params)
    gw = torch.autograd.grad(whole, (z1, z2))
    parts = [contrastive_loss(name, z1, z2, negatives=negatives, anchors=slice(a, b), **params)
             for a, b in ((0, 7), (7, 8), (8, 20))]
    gp = torch.autograd.grad(sum(parts), (z1, z2))
    assert torch.allclose(sum(parts), whole, rtol=1e-12)
    assert all(torch.allclose(a, b, rtol=1e-10, atol=1e-12) for a, b in zip(gp, gw))
    m = contrastive_metrics(z1, z2, 0.5, negatives=negatives)
    blocks = [contrastive_metrics(z1, z2, 0.5, negatives=negatives, anchors=slice(a, a + 6)) for a in (0, 6, 12, 18)]
    for k in m:
        assert torch.allclose(sum(b[k] for b in blocks), m[k], rtol=1e-12)
