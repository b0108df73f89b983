"""Training runs and the paper's comparison (Tables 4-6): one run on the split (train), the
comparison's plan, its runs and its tables, and the paper's quoted numbers they are set beside."""
