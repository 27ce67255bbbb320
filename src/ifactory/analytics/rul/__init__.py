"""Remaining useful life (RUL): data, features, models and metrics for run-to-failure histories.

The neural model and its training loop (`model`, `train`) import PyTorch; nothing else here does,
so the rest of iFactory imports this package without it.
"""
