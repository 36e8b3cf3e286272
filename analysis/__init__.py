"""Tables and figures regenerated from the result store, beside the paper's numbers."""
