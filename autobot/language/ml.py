"""What the ``ml:`` section may say: model kinds and their hyperparameters (with defaults). The
models themselves train in :mod:`autobot.evaluate.learn`."""

from __future__ import annotations

KINDS = ("linear", "lightgbm", "lstm")
TARGETS = ("up", "return")
PARAMS: dict[str, dict[str, float]] = {
    "linear": {"alpha": 1.0},
    "lightgbm": {"n_estimators": 50, "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 20,
                 "max_depth": -1, "lambda_l2": 0.0, "feature_fraction": 1.0},
    "lstm": {},
}
