"""Pre-labelling (paper section 3.3): drafts from a model trained on the early masks, their cost."""
