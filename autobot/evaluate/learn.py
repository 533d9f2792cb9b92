"""Walk-forward models: a strategy's ``ml:`` predictions, leak-proof by construction.

A model has features (series of the language), a target over an explicit ``horizon`` (``up``:
whether the close ``horizon`` bars later is higher; ``return``: that log return), a training
window of ``train`` rows and a retraining step. At bar index ``t`` its prediction comes from the
model trained at the last retraining point ``r <= t`` on rows ``r - horizon - train + 1 ..
r - horizon``: every label it learned from was known by ``r`` (row ``i``'s label needs the close
of bar ``i + horizon``), and its feature scaler (mean and standard deviation) was fit on those
rows only. Retraining points are ``r0, r0 + step, ...`` where ``r0 = f0 + train + horizon - 1``
and ``f0`` is the first bar all features are defined, at or after their longest warm-up (a
condition is false, not undefined, while it warms up): positions in the series, so cutting the
data after bar ``t`` changes no prediction up to ``t`` (the prefix-invariance property the tests
check). Before ``r0`` the prediction is undefined. An ``embargo`` of ``e`` bars moves every
training window ``e`` bars further back (rows ``.. r - horizon - e``, ``r0`` ``e`` bars later): the
last label a model learned from is ``e`` bars older than its first prediction.

An ``lstm`` model's row ``t`` is the last ``seq_len`` rows of features, ``t - seq_len + 1 .. t``
(:func:`window`): it is defined from the ``seq_len``-th defined row on, and the schedule above
applies to those rows, so the same proofs hold.

Both evaluators call :func:`fit` and :func:`predict` on the same arrays, so the batch evaluator (a
whole series) and the streaming one (bar by bar) agree bit for bit: LightGBM is run
single-threaded and deterministic with the model's seed; the linear model (ridge, closed form)
predicts with the same sequence of float operations for one row or many; the LSTM trains
single-threaded and deterministic with its seed and predicts by a compiled loop
(:mod:`autobot.evaluate.lstm`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from autobot.language.ml import PARAMS


@dataclass(frozen=True)
class Spec:
    kind: str
    target: str
    horizon: int
    train: int
    step: int
    params: tuple[tuple[str, float], ...]
    seed: int
    start: int = 0             # no row before this bar counts (the features' longest warm-up)
    embargo: int = 0           # bars left out between the last training label and the retraining bar

    def param(self, name: str) -> float:
        return dict(self.params).get(name, PARAMS[self.kind][name])

    @classmethod
    def of(cls, node: Any) -> "Spec":
        """The spec of a plan's :class:`~autobot.language.plan.Learn` node."""
        return cls(node.kind, node.target, node.horizon, node.train, node.step, node.params, node.seed, node.start,
                   node.embargo)


def labels(close: np.ndarray, horizon: int, target: str) -> np.ndarray:
    """Row i's label: the log return from bar i to bar i + horizon (``up``: 1.0 when positive);
    NaN where bar i + horizon is not in the data."""
    n = len(close)
    out = np.full(n, np.nan)
    if n > horizon:
        r = np.log(close[horizon:] / close[:-horizon])
        out[: n - horizon] = (r > 0).astype(np.float64) if target == "up" else r
    return out


def lookback(spec: Spec) -> int:
    """Rows of features one prediction reads (``seq_len`` for an LSTM, else 1)."""
    return int(spec.param("seq_len")) if spec.kind == "lstm" else 1


def window(spec: Spec, x: np.ndarray) -> np.ndarray:
    """Each row joined with the ``lookback - 1`` rows before it (oldest first); NaN where the
    series has not that many rows yet. The identity for kinds that read one row."""
    n_back = lookback(spec)
    if n_back == 1:
        return x
    n, k = x.shape
    out = np.full((n, n_back * k), np.nan)
    for s in range(n_back):                 # step s of the sequence is row t - (n_back - 1 - s)
        lag = n_back - 1 - s
        out[lag:, s * k:(s + 1) * k] = x[: n - lag] if lag else x
    return out


def first_retrain(f0: int, spec: Spec) -> int:
    return f0 + spec.train + spec.horizon + spec.embargo - 1


def training_rows(r: int, spec: Spec) -> tuple[int, int]:
    """[start, stop) of the rows a model trained at bar r learns from: the last label it sees
    (row ``stop - 1``'s, the close of bar ``stop - 1 + horizon``) is ``embargo`` bars before r."""
    stop = r - spec.horizon - spec.embargo + 1
    return stop - spec.train, stop


@dataclass
class Fitted:
    mu: np.ndarray
    sd: np.ndarray
    model: Any            # (weights, bias) for linear, a trees.Forest for lightgbm, an lstm.Net for lstm
    kind: str
    target: str


def fit(spec: Spec, x: np.ndarray, y: np.ndarray) -> Fitted | None:
    """A model on rows ``x`` (rows with an undefined feature or label dropped); None when too few."""
    keep = np.all(np.isfinite(x), axis=1) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(y) < max(10, x.shape[1] + 2):
        return None
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    z = (x - mu) / sd
    if spec.kind == "linear":
        alpha = spec.param("alpha")
        ym = float(y.mean())
        a = z.T @ z + alpha * np.eye(z.shape[1])
        w = np.linalg.solve(a, z.T @ (y - ym))
        return Fitted(mu, sd, (w, ym), "linear", spec.target)
    if spec.kind == "lightgbm":
        import lightgbm as lgb
        if spec.target == "up" and (y.min() == y.max()):
            return None                     # one class only: nothing to learn
        params = {"objective": "binary" if spec.target == "up" else "regression", "verbosity": -1,
                  "num_threads": 1, "deterministic": True, "force_row_wise": True, "seed": spec.seed,
                  "learning_rate": spec.param("learning_rate"), "num_leaves": int(spec.param("num_leaves")),
                  "min_data_in_leaf": int(spec.param("min_data_in_leaf")), "max_depth": int(spec.param("max_depth")),
                  "lambda_l2": spec.param("lambda_l2"), "feature_fraction": spec.param("feature_fraction")}
        booster = lgb.train(params, lgb.Dataset(z, label=y, free_raw_data=True),
                            num_boost_round=int(spec.param("n_estimators")))
        from autobot.evaluate.trees import forest_of
        return Fitted(mu, sd, forest_of(booster), "lightgbm", spec.target)
    if spec.kind == "lstm":
        from autobot.evaluate import lstm
        if spec.target == "up" and (y.min() == y.max()):
            return None
        k = x.shape[1] // lookback(spec)
        net = lstm.train(z, y, k, spec.target == "up", int(spec.param("hidden")), int(spec.param("epochs")),
                         spec.param("learning_rate"), spec.param("weight_decay"), spec.seed)
        return Fitted(mu, sd, net, "lstm", spec.target)
    raise ValueError(f"model kind {spec.kind!r} is not available")


def predict(f: Fitted, x: np.ndarray) -> np.ndarray:
    """Predictions for rows ``x`` (NaN where a feature is undefined). One row or many give the
    same numbers."""
    out = np.full(len(x), np.nan)
    ok = np.all(np.isfinite(x), axis=1)
    if not ok.any():
        return out
    z = (x[ok] - f.mu) / f.sd
    if f.kind == "linear":
        w, b = f.model
        acc = np.full(len(z), b)
        for j in range(z.shape[1]):          # feature by feature: the same operations for any row count
            acc = acc + w[j] * z[:, j]
        if f.target == "up":
            acc = np.clip(acc, 0.0, 1.0)     # a linear probability model
        out[ok] = acc
    elif f.kind == "lstm":
        from autobot.evaluate import lstm
        out[ok] = lstm.predict(f.model, z, f.model.w_ih.shape[1])   # compiled: one row or many alike
    else:
        from autobot.evaluate.trees import predict as walk
        out[ok] = walk(f.model, z)                       # the trees, compiled: one row or many alike
    return out


def to_bytes(f: Fitted) -> bytes:
    """A trained model as an ``.npz`` (arrays only: loading it needs no pickle)."""
    import dataclasses
    import io
    arrays: dict[str, Any] = {"kind": np.array(f.kind), "target": np.array(f.target), "mu": f.mu, "sd": f.sd}
    if f.kind == "linear":
        arrays.update(w=f.model[0], b=np.array(f.model[1]))
    else:
        arrays.update({k: np.asarray(v) for k, v in dataclasses.asdict(f.model).items()})
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def walk_forward(spec: Spec, x: np.ndarray, close: np.ndarray, rows: Any = None) -> np.ndarray:
    """Every bar's prediction (module docstring). ``rows``: the training rows of a retraining
    point (default :func:`training_rows`; the leakage tests plant a leaking one)."""
    rows = rows or training_rows
    n = len(close)
    out = np.full(n, np.nan)
    x = window(spec, x)
    defined = np.all(np.isfinite(x), axis=1) if n else np.zeros(0, bool)
    if not defined.any():
        return out
    defined[: spec.start] = False
    if not defined.any():
        return out
    f0 = int(np.argmax(defined))
    y = labels(close, spec.horizon, spec.target)
    r = first_retrain(f0, spec)
    while r < n:
        a, b = rows(r, spec)
        fitted = fit(spec, x[a:b], y[a:b])
        stop = min(r + spec.step, n)
        if fitted is not None:
            out[r:stop] = predict(fitted, x[r:stop])
        r += spec.step
    return out


class Online:
    """The same model bar by bar (the streaming evaluator): keeps the features and closes it needs,
    retrains at the same bars as :func:`walk_forward`, predicts the new bar.

    ``Online.background`` (an executor; a node on a venue's data sets one): a retraining is
    submitted there and the previous model keeps predicting until the new one is back, so the
    trading loop never waits for a training (``swaps`` records (retraining bar, bar it took over)).
    Without it (backtests, replays) the new model predicts from its retraining bar, as the batch
    evaluator's does."""

    background: Any = None
    recorder: Any = None        # (spec, trained_at, rows, data_sha, fitted): a node keeps its models

    def _record(self, at: int, x: np.ndarray, y: np.ndarray, fitted: "Fitted | None") -> None:
        record = type(self).recorder            # a plain function, not a method of this instance
        if record is None or fitted is None:
            return
        import hashlib
        sha = hashlib.sha256(np.ascontiguousarray(x).tobytes() + np.ascontiguousarray(y).tobytes()).hexdigest()[:16]
        try:
            record(self.spec, at, len(y), sha, fitted)
        except Exception as exc:                # noqa: BLE001 - keeping a copy must never stop the trading
            import logging
            logging.getLogger("autobot").error(f"recording a trained model failed: {exc!r}")

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.base = 0                           # bar index of rows[0] and closes[0]
        self.rows: list[tuple[float, ...]] = []
        self.closes: list[float] = []
        self.f0: int | None = None
        self.next_retrain: int | None = None
        self.fitted: Fitted | None = None
        self.trained_at: int | None = None
        self.pending: tuple[Any, int] | None = None
        self._pending_data: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))
        self.swaps: list[tuple[int, int]] = []
        self.lookback = lookback(spec)
        self.recent: list[tuple[float, ...]] = []     # the last ``lookback`` rows of raw features

    def __call__(self, close: float, *raw: float) -> float:
        features = raw
        if self.lookback > 1:                   # :func:`window`, one row at a time
            self.recent.append(raw)
            del self.recent[: -self.lookback]
            features = (sum(self.recent, ()) if len(self.recent) == self.lookback
                        else (math.nan,) * (self.lookback * len(raw)))
        t = self.base + len(self.closes)
        self.closes.append(close)
        self.rows.append(features)
        if self.f0 is None and t >= self.spec.start and all(math.isfinite(v) for v in features):
            self.f0 = t
            self.next_retrain = first_retrain(t, self.spec)
        if self.next_retrain is not None and t == self.next_retrain:
            a, b = training_rows(t, self.spec)
            x = np.array(self.rows[a - self.base:b - self.base], dtype=np.float64).reshape(b - a, len(features))
            y = labels(np.array(self.closes[a - self.base:], dtype=np.float64), self.spec.horizon,
                       self.spec.target)[: b - a]
            if self.background is not None:
                self.pending = (self.background.submit(fit, self.spec, x, y), t)
                self._pending_data = (x, y)
            else:
                self.fitted = fit(self.spec, x, y)
                self.trained_at = t
                self._record(t, x, y, self.fitted)
            self.next_retrain = t + self.spec.step
            # the next training's first row, at most every row held: when retrain_every exceeds the
            # window, rows still to come are dropped as they arrive (base counts only rows dropped)
            keep = min(training_rows(self.next_retrain, self.spec)[0] - self.base, len(self.rows))
            if keep > 0:
                del self.rows[:keep], self.closes[:keep]
                self.base += keep
        if self.pending is not None and self.pending[0].done():
            future, at = self.pending
            self.pending = None
            try:
                self.fitted = future.result()
                self._record(at, *self._pending_data, self.fitted)
            except Exception:                   # noqa: BLE001 - a failed training keeps the old model
                pass
            self.trained_at = t
            self.swaps.append((at, t))
        if self.fitted is None:
            return math.nan
        return float(predict(self.fitted, np.array([features], dtype=np.float64))[0])
