"""The paper's comparison (Tables 4-6): plan, runs and tables."""
