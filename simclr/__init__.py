"""SimCLR engine: one run = pretrain + evaluate, described by one frozen RunConfig."""
from simclr.config import ConfigError, RunConfig, load, op, replace, run_id, simclr_recipe, to_dict
from simclr.run import run
from simclr.store import load_results

__all__ = ["ConfigError", "RunConfig", "load", "load_results", "op", "replace", "run", "run_id",
           "simclr_recipe", "to_dict"]
