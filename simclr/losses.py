"""Contrastive losses of SimCLR (Chen et al., ICML 2020): NT-Xent, NT-Logistic, margin triplet.

Every function takes the projections of the two augmented views of a batch,
``z1`` and ``z2``, both of shape (N, D); row i of ``z1`` and row i of ``z2`` form
the positive pair. The 2N views are stacked as ``z = cat([z1, z2])``, so view a
(0 <= a < 2N) has its positive at index ``(a + N) % 2N``. Every view is an
anchor, and every loss is a MEAN over the 2N anchors.

Conventions shared by all functions:

- ``l2_normalize=True``: sim(u, v) is the cosine similarity (z is l2-normalized
  along D). ``False``: sim(u, v) is the raw dot product (Table 5, "no l2 norm").
- Similarities and everything after them are computed in float32 (float64 inputs
  stay float64) with autocast disabled, so low temperatures cannot overflow
  bf16/fp16 logits. The returned scalar is float32 (or float64).
- ``negatives="all"``: the 2(N-1) views of the other images in both views are
  the negatives of an anchor. ``negatives="other_view"``: only the N-1 views of
  the other images in the opposite view (Table 4 compares losses this way, "for
  simplicity, we only consider the negatives from one augmentation view").
  The anchor itself is never a candidate.
- ``anchors`` (a slice of the 2N anchors): only those anchors' share of the
  mean (their sum / 2N), computed from an (A, 2N) block of similarities; the
  shares of a partition of the anchors add up to the whole loss. The gradient
  cache sums blocks so that no (2N, 2N) matrix is ever held.
- Semi-hard negative mining (``semi_hard=True``, NT-Logistic and margin
  triplet), following Sec. 5.1 of the paper and Schroff et al. (2015): "compute
  the gradient using semi-hard negative terms (i.e., those that are within the
  loss margin and closest in distance, but farther than positive examples)".
  Each anchor keeps ONE negative: the most similar negative among those strictly
  less similar than its positive. For the margin loss this negative contributes
  only when it lies within the margin (the hinge is zero otherwise); the
  logistic loss has no margin, so that condition is void. An anchor with no
  such negative (every negative is at least as similar as its positive) falls
  back to its least similar negative, the one nearest the semi-hard region, as
  in the FaceNet-style ``triplet_semihard_loss``; this keeps a repulsive term for
  every anchor while still avoiding the hardest negatives. The choice is not
  differentiated; the gradient flows through the chosen similarity.
"""

import inspect
import math

import torch
import torch.nn.functional as F

from simclr.config import choice

NEGATIVE_MODES = ("all", "other_view")


def _check_inputs(z1, z2, negatives):
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise ValueError(
            f"z1 and z2 must both have shape (N, D); got {tuple(z1.shape)} and {tuple(z2.shape)}"
        )
    if z1.shape[0] < 2:
        raise ValueError("need N >= 2 pairs so that every anchor has a negative")
    if negatives not in NEGATIVE_MODES:
        raise ValueError(f"negatives must be one of {NEGATIVE_MODES}; got {negatives!r}")


def _full_precision(z):
    # Autocast would recast the float32 matmul below to bf16/fp16; turn it off locally.
    return torch.autocast(device_type=z.device.type, enabled=False)


def _similarity(z1, z2, l2_normalize, anchors=None):
    """(A, 2N) matrix sim[a, k] between the anchors' rows (all 2N by default) and the stacked views
    z = cat([z1, z2]), in >= float32."""
    z = torch.cat([z1, z2], dim=0)
    z = z.to(torch.promote_types(z.dtype, torch.float32))
    if l2_normalize:
        z = F.normalize(z, dim=1)
    return (z if anchors is None else z[anchors]) @ z.T


def _pair_masks(n, negatives, device, anchors=None):
    """Index of each anchor's positive, shape (A,), and the (A, 2N) boolean negative mask."""
    idx = torch.arange(2 * n, device=device)
    rows = idx if anchors is None else idx[anchors]
    positive = (rows + n) % (2 * n)
    neg = (rows[:, None] != idx[None, :]) & (positive[:, None] != idx[None, :])
    if negatives == "other_view":
        neg &= (rows // n)[:, None] != (idx // n)[None, :]
    return positive, neg


def _with_positive(neg, positive):
    """The softmax's candidates: the negatives and the positive (a scatter of a scalar: unlike
    `mask[rows, positive] = True`, nothing is copied from the host to the device)."""
    return neg.scatter(1, positive[:, None], True)


def _mean(per_anchor, n, anchors):
    """The mean over the 2N anchors; for a block of anchors, its share of that mean (block sums / 2N),
    so the shares of a partition of the anchors add up to the whole loss."""
    return per_anchor.mean() if anchors is None else per_anchor.sum() / (2 * n)


def _semi_hard_negative(sim, pos_sim, neg):
    """Per anchor, the index of the mined negative (see module docstring), shape (2N,)."""
    with torch.no_grad():
        semi_hard = neg & (sim < pos_sim[:, None])
        hardest_semi_hard = sim.masked_fill(~semi_hard, -math.inf).argmax(dim=1)
        least_similar = sim.masked_fill(~neg, math.inf).argmin(dim=1)
        return torch.where(semi_hard.any(dim=1), hardest_semi_hard, least_similar)


def _masked_row_mean(values, mask):
    return torch.where(mask, values, torch.zeros_like(values)).sum(dim=1) / mask.sum(dim=1)


def _anchor_similarities(z1, z2, l2_normalize, negatives, anchors):
    """The pairwise losses' shared start: the (A, 2N) similarities, each anchor's row index into them,
    its positive's similarity (A,) and its (A, 2N) negative mask."""
    sim = _similarity(z1, z2, l2_normalize, anchors)
    positive, neg = _pair_masks(z1.shape[0], negatives, sim.device, anchors)
    rows = torch.arange(len(positive), device=sim.device)
    return sim, rows, sim[rows, positive], neg


def _over_negatives(terms, sim, rows, pos_sim, neg, semi_hard):
    """Per anchor, its (A, 2N) negative terms reduced to one: the mined negative's term when
    `semi_hard`, else their mean over the anchor's negatives."""
    if semi_hard:
        return terms[rows, _semi_hard_negative(sim, pos_sim, neg)]
    return _masked_row_mean(terms, neg)


def nt_xent(z1, z2, temperature=0.5, l2_normalize=True, negatives="all", anchors=None):
    """NT-Xent (normalized temperature-scaled cross entropy), the paper's Eq. (1).

    For anchor a with positive p:
        l(a, p) = -log( exp(sim(z_a, z_p)/t) / sum_{k in C(a)} exp(sim(z_a, z_k)/t) ),
    where C(a) is the positive plus the negatives of a: all k != a (2N-1 terms) for
    ``negatives="all"``, or the N views of the opposite view for ``"other_view"``.

    Args:
        z1, z2: (N, D) projections of the two views; row i of each is a positive pair.
        temperature: t > 0.
        l2_normalize: cosine similarity if True, raw dot product if False.
        negatives: "all" or "other_view".
        anchors: a slice of the 2N anchors: return only their share of the mean
            (their sum / 2N), in memory O(block x 2N); the gradient cache sums blocks.

    Returns:
        Scalar: the MEAN of l over the 2N anchors (Algorithm 1's 1/(2N) sum). The
        official TF code adds the two directions, each averaged over N, which is
        exactly 2x this value.
    """
    _check_inputs(z1, z2, negatives)
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    n = z1.shape[0]
    with _full_precision(z1):
        logits = _similarity(z1, z2, l2_normalize, anchors) / temperature
        positive, neg = _pair_masks(n, negatives, logits.device, anchors)
        rows = torch.arange(len(positive), device=logits.device)
        candidates = _with_positive(neg, positive)
        # -inf drops non-candidates (the anchor itself included) from the softmax.
        logits = logits.masked_fill(~candidates, -math.inf)
        return _mean(torch.logsumexp(logits, dim=1) - logits[rows, positive], n, anchors)


def nt_logistic(z1, z2, temperature=0.5, l2_normalize=True, semi_hard=False, negatives="all", anchors=None):
    """NT-Logistic (Table 2): -log sigmoid(sim(u, v+)/t) - log sigmoid(-sim(u, v-)/t).

    Per anchor u the loss is the positive term plus the MEAN of the negative term
    over u's negatives (or the single mined negative when ``semi_hard``); the
    result is the MEAN over the 2N anchors. Averaging the negatives gives the
    positive pair the same total weight as all negatives together, instead of a
    1 : 2(N-1) imbalance that a plain sum over pairs would give.

    Args:
        z1, z2: (N, D) projections of the two views; row i of each is a positive pair.
        temperature: t > 0.
        l2_normalize: cosine similarity if True, raw dot product if False.
        semi_hard: keep one semi-hard negative per anchor (module docstring).
        negatives: "all" or "other_view".

    Returns:
        Scalar loss.
    """
    _check_inputs(z1, z2, negatives)
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    with _full_precision(z1):
        sim, rows, pos_sim, neg = _anchor_similarities(z1, z2, l2_normalize, negatives, anchors)
        pos_term = -F.logsigmoid(pos_sim / temperature)
        neg_term = _over_negatives(-F.logsigmoid(-sim / temperature), sim, rows, pos_sim, neg, semi_hard)
        return _mean(pos_term + neg_term, z1.shape[0], anchors)


def margin_triplet(z1, z2, margin=0.4, l2_normalize=True, semi_hard=False, negatives="all", anchors=None):
    """Margin triplet loss (Table 2): max(sim(u, v-) - sim(u, v+) + m, 0).

    Per anchor u the hinge is averaged over u's negatives (or taken on the single
    mined negative when ``semi_hard``); the result is the MEAN over the 2N anchors.

    Args:
        z1, z2: (N, D) projections of the two views; row i of each is a positive pair.
        margin: m >= 0, in units of sim (cosine similarity when l2-normalized).
        l2_normalize: cosine similarity if True, raw dot product if False.
        semi_hard: keep one semi-hard negative per anchor (module docstring).
        negatives: "all" or "other_view".

    Returns:
        Scalar loss.
    """
    _check_inputs(z1, z2, negatives)
    with _full_precision(z1):
        sim, rows, pos_sim, neg = _anchor_similarities(z1, z2, l2_normalize, negatives, anchors)
        hinge = (sim - pos_sim[:, None] + margin).clamp_min(0)
        return _mean(_over_negatives(hinge, sim, rows, pos_sim, neg, semi_hard), z1.shape[0], anchors)


def contrastive_metrics(z1, z2, temperature, l2_normalize=True, negatives="all", anchors=None):
    """Table 5's diagnostics: how well each anchor picks out its positive (no gradient).

    Candidates of anchor a: the positive and its negatives (2N-1 views for
    ``negatives="all"``, the N views of the opposite view for ``"other_view"``).

    Returns:
        {"contrastive_acc": fraction of the 2N anchors whose most similar
         candidate is their positive (ties resolve to the lowest index),
         "entropy": mean over the 2N anchors of the entropy, in nats, of
         softmax(sim/t) over the candidates}; 0-dim float tensors.
        Uniform similarities give entropy log(2N-1) ("all") or log(N)
        ("other_view"). The official code measures both on the opposite view
        only; Table 5's largest entropy, 8.3 ~ log(4096) at batch 4096, matches
        that, so use ``negatives="other_view"`` to compare with the table.
    """
    _check_inputs(z1, z2, negatives)
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    n = z1.shape[0]
    with torch.no_grad(), _full_precision(z1):
        sim = _similarity(z1, z2, l2_normalize, anchors)
        positive, neg = _pair_masks(n, negatives, sim.device, anchors)
        candidates = _with_positive(neg, positive)
        logits = (sim / temperature).masked_fill(~candidates, -math.inf)
        acc = _mean((logits.argmax(dim=1) == positive).to(sim.dtype), n, anchors)
        log_p = torch.log_softmax(logits, dim=1)
        # Non-candidates have p = 0 and log p = -inf; their 0 * -inf must count as 0.
        plogp = torch.where(candidates, log_p.exp() * log_p, torch.zeros_like(log_p))
        entropy = _mean(-plogp.sum(dim=1), n, anchors)
    return {"contrastive_acc": acc, "entropy": entropy}


LOSSES = {"nt_xent": nt_xent, "nt_logistic": nt_logistic, "margin_triplet": margin_triplet}


def contrastive_loss(name, z1, z2, **params):
    """Dispatch to ``LOSSES[name](z1, z2, **params)``, rejecting unknown names and parameters."""
    if name not in LOSSES:
        raise ValueError(f"unknown contrastive loss {name!r}; valid names: {sorted(LOSSES)}")
    fn = LOSSES[name]
    valid = [p for p in inspect.signature(fn).parameters if p not in ("z1", "z2")]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"{name} got unknown parameter(s) {unknown}; valid parameters: {valid}")
    return fn(z1, z2, **params)


def config_errors(cfg, world_size: int = 1) -> list[str]:
    """The problems of the loss section, each naming its fix."""
    lo = cfg.loss
    e = choice("loss.name", lo.name, LOSSES) + choice("loss.negatives", lo.negatives, NEGATIVE_MODES)
    if lo.temperature <= 0:
        e.append(f"loss.temperature={lo.temperature}: must be > 0 (paper: 0.1 ImageNet, 0.5 CIFAR-10)")
    if lo.margin < 0:
        e.append(f"loss.margin={lo.margin}: must be >= 0")
    if lo.semi_hard and lo.name == "nt_xent":
        e.append("loss.semi_hard: applies to nt_logistic and margin_triplet only")
    return e
