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


# ---------------------------------------------------------------- budgets (docs/ml.md, "Budgets")
#: the most memory one training may take, and the most time a model may spend training and
#: predicting over a run; without data (``autobot validate``) the run is :data:`REFERENCE_BARS` long
MEMORY_BUDGET = 2 * 1024 ** 3
TIME_BUDGET = 600.0
REFERENCE_BARS = 100_000

# calibrated on the development machine (docs/ml.md gives the measurements)
_LSTM_BYTES = 96            # bytes a training holds per (row x seq_len x hidden): PyTorch's saved activations
_LSTM_BASE = 256 * 1024 ** 2
_LSTM_NS = 4.0              # ns per (row x seq_len x hidden x (hidden + features)) and epoch
_LSTM_PREDICT_NS = 1.0      # ns per (seq_len x 4 hidden x (hidden + features)) multiply-add, per bar
_TREE_NS = 12.0             # ns per (row x feature) and tree
_TREE_LEAF_NS = 2000.0      # ns per (leaf x feature) and tree
_TREE_BASE_NS = 100_000.0   # ns per tree
_TREE_NODE_BYTES = 600      # a node of the dumped model (Python objects) while it is flattened


def trainings(bars: int, first: int, step: int) -> int:
    """How many times a model first trained at bar ``first`` and every ``step`` bars trains in ``bars``."""
    return 0 if bars <= first else -(-(bars - first) // step)


def estimate(kind: str, params: dict[str, float], features: int, train_bars: int, first: int, step: int,
             bars: int) -> tuple[float, float, str, str]:
    """(memory in bytes of one training, seconds of training and prediction over ``bars`` bars, the
    setting that drives the memory, the one that drives the time)."""
    p = {**PARAMS[kind], **params}
    n = trainings(bars, first, step)
    predicted = max(0, bars - first)
    if kind == "lstm":
        seq, hidden, epochs = p["seq_len"], p["hidden"], p["epochs"]
        memory = _LSTM_BASE + _LSTM_BYTES * train_bars * seq * hidden
        one = epochs * train_bars * seq * hidden * (hidden + features) * _LSTM_NS * 1e-9
        per_bar = seq * 4 * hidden * (hidden + features) * _LSTM_PREDICT_NS * 1e-9
        return memory, n * one + predicted * per_bar, "seq_len, hidden or train_bars", \
            "epochs, seq_len, hidden, train_bars, or raise retrain_every"
    if kind == "lightgbm":
        leaves = min(p["num_leaves"], max(2, train_bars // max(1, p["min_data_in_leaf"])))
        if p["max_depth"] > 0:
            leaves = min(leaves, 2 ** p["max_depth"])
        trees = p["n_estimators"]
        memory = trees * (2 * leaves - 1) * _TREE_NODE_BYTES + train_bars * features * 16
        one = trees * (_TREE_BASE_NS + _TREE_NS * train_bars * features + _TREE_LEAF_NS * leaves * features) * 1e-9
        return memory, n * one, "n_estimators or num_leaves", "n_estimators, train_bars, or raise retrain_every"
    return train_bars * features * 16.0, n * train_bars * features * features * 1e-8, "train_bars", "retrain_every"
