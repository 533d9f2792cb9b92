"""What the ``ml:`` section may say: model kinds and their hyperparameters (with defaults). The
models themselves train in :mod:`autobot.evaluate.learn`."""

from __future__ import annotations

KINDS = ("linear", "lightgbm", "lstm")
TARGETS = ("up", "return")
PARAMS: dict[str, dict[str, float]] = {
    "linear": {"alpha": 1.0},
    "lightgbm": {"n_estimators": 50, "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 20,
                 "max_depth": -1, "lambda_l2": 0.0, "feature_fraction": 1.0},
    "lstm": {"seq_len": 16, "hidden": 8, "epochs": 60, "learning_rate": 0.01, "weight_decay": 0.0},
}
# [low, high] of each hyperparameter (validate reports a value outside as bad-param)
BOUNDS: dict[str, tuple[float, float]] = {
    "alpha": (0.0, 1e9), "n_estimators": (1, 10_000), "learning_rate": (1e-6, 10.0), "num_leaves": (2, 4096),
    "min_data_in_leaf": (1, 100_000), "max_depth": (-1, 64), "lambda_l2": (0.0, 1e9), "feature_fraction": (0.01, 1.0),
    "seq_len": (1, 512), "hidden": (1, 256), "epochs": (1, 10_000), "weight_decay": (0.0, 1e3),
}
INTEGER = {"n_estimators", "num_leaves", "min_data_in_leaf", "max_depth", "seq_len", "hidden", "epochs"}


def torch_available() -> bool:
    """Whether PyTorch (the ``lstm`` kind's trainer, the optional ``ml`` extra) is installed; found
    without importing it."""
    import importlib.util
    return importlib.util.find_spec("torch") is not None
