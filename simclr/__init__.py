"""SimCLR engine: one run = pretrain + evaluate, described by one frozen RunConfig.

`simclr.run` (simclr/engine.py) is imported when first used, so that reading configs and stores
(simclr.config, simclr.store: the analysis) never imports torch."""
from simclr.config import ConfigError, RunConfig, load, op, replace, run_id, simclr_recipe, to_dict
from simclr.store import load_results

__all__ = ["ConfigError", "RunConfig", "load", "load_results", "op", "replace", "run", "run_id",
           "simclr_recipe", "to_dict"]


def __getattr__(name: str):
    if name == "run":
        from simclr.engine import run
        return run
    raise AttributeError(f"module 'simclr' has no attribute {name!r}")
