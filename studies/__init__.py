"""Declarative studies: one module per table or figure of the paper; run.py is the CLI."""
