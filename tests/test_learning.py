"""End to end: a short pretraining on the built-in data beats the same encoder at random init.

Measured (2,000 synthetic images, batch 128, 300 LARS steps, kNN k=20 on 1,000 test images, about
40 s on 2 cores): trained vs random init 20.9 vs 12.8, 23.4 vs 16.2, 22.2 vs 14.6 for seeds 0, 1, 2,
a margin of 7.2-8.1 points; with the projection head's last BN learning its scale, 21.7 vs 12.7 for
seed 0 (+9.0). At 150 steps the margin is 4.9-6.2, too close to the 4 the test asks for.
"""
import simclr
from simclr.config import load

MARGIN = 4.0


def test_pretraining_beats_random_init(tmp_path):
    cfg = load("configs/tiny.yaml", [
        "data.num_train=2000", "data.num_test=1000", "train.batch_size=128", "train.steps=300",
        "optim.warmup_epochs=1", "train.progress=false", "eval.linear=false", "eval.knn_k=20", "seed=0"])
    trained = simclr.run(cfg, tmp_path)
    random_init = simclr.run(simclr.replace(cfg, **{"train.steps": 0, "train.epochs": 0.0}), tmp_path)
    assert random_init["step"] == 0 and trained["step"] == 300
    assert trained["knn_acc"] - random_init["knn_acc"] >= MARGIN, (trained["knn_acc"], random_init["knn_acc"])
    # the contrastive task itself was learned: far above the 1/255 of a random guess among 2N-1 views
    assert trained["train_contrastive_acc"] > 0.05
