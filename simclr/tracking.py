"""Experiment tracking: an optional TensorBoard sink fed with the records log.jsonl gets (which stays the
source of truth): loss, lr, contrastive accuracy, entropy, online accuracy and images/s per logged step
(train/), epoch means (epoch/), the kNN monitor (monitor/), the evaluations at the last step (eval/) and
the events (diverged, resumed, ...) as text. On with train.tensorboard=true; the events of a run go to
<results>/tensorboard/<train.run_name> (a study names each run by its cell: labels and seed), so

    tensorboard --logdir results/<study>/<preset>/tensorboard

compares a study's arms. A resumed run hides its earlier session's records past the checkpoint, as
log.jsonl drops them. Needs the tensorboard package: pip install -e '.[tensorboard]'.
"""
from __future__ import annotations

import json
from pathlib import Path

PREFIX = {None: "train", "epoch": "epoch", "monitor": "monitor"}


def _numbers(record: dict) -> dict:
    return {k: v for k, v in record.items()
            if k not in ("step", "epoch", "event") and isinstance(v, (int, float)) and not isinstance(v, bool)}


class TensorBoard:
    """A run's records as TensorBoard scalars; the writer opens at the first record, so that a resumed
    run (its first record: resumed at the checkpoint's step) purges what came after that step."""

    def __init__(self, log_dir: str | Path):
        self.log_dir, self.writer = str(log_dir), None

    def __call__(self, record: dict) -> None:
        step = int(record.get("step", 0))
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(self.log_dir, purge_step=step + 1)
        if record.get("event") not in PREFIX:
            self.writer.add_text("events", json.dumps(record), step)
            return
        prefix = PREFIX[record.get("event")]
        for key, value in _numbers(record).items():
            self.writer.add_scalar(f"{prefix}/{key}", value, step)

    def results(self, metrics: dict) -> None:
        """The run's final metrics (evaluations, train summaries) at its last step."""
        step = int(metrics.get("step", 0))
        self({"event": "done", "step": step, "status": metrics.get("status")})
        for key, value in _numbers(metrics).items():
            self.writer.add_scalar(f"eval/{key}", value, step)
        self.close()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
