"""Research studies: the search space, optuna storage and workers of `metalabel research`."""
