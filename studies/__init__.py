"""Declarative studies: one module per table or figure of the paper; run.py is the CLI."""

STUDIES = ("augmentation_grid", "color_operator", "color_strength", "model_size", "projection_head", "h_vs_gh",
           "loss_functions", "temperature", "batch_size_epochs", "semi_supervised", "transfer", "appendix",
           "seed_noise", "checkpoints")
