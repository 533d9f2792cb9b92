"""The ``lstm`` model kind: trained with PyTorch (the optional ``ml`` extra), predicted by one
compiled function (numba) over the trained weights.

A model sees, at each row, the last ``seq_len`` rows of its (standardised) features as a sequence
(:func:`autobot.evaluate.learn.window` builds those rows, so the walk-forward schedule and the
leak-proofing are the ones every kind has). One LSTM layer of ``hidden`` units and a linear head;
``up`` trains on the logistic loss and predicts a probability, ``return`` on the squared error of
the standardised label and predicts a log return. Training is full-batch Adam for ``epochs``
steps, single-threaded, seeded and with PyTorch's deterministic algorithms: the same rows give the
same weights in the backtest and in a node's training process.

Prediction does not use PyTorch: the weights (as float64) feed :func:`_forward`, a loop with a
fixed order of operations per row, so one row (the streaming evaluator) and many (the batch
evaluator) give the same numbers bit for bit, and a node's prediction per bar costs microseconds.
The tests check it against PyTorch's own forward pass (to float precision).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np


@dataclass(frozen=True)
class Net:
    w_ih: np.ndarray     # (4 * hidden, features): gates in PyTorch's order i, f, g, o
    w_hh: np.ndarray     # (4 * hidden, hidden)
    bias: np.ndarray     # (4 * hidden,): b_ih + b_hh
    w_out: np.ndarray    # (hidden,)
    b_out: float
    y_mu: float          # the label's scale (``return``): prediction = y_mu + y_sd * head
    y_sd: float
    up: bool             # a probability (sigmoid of the head)


def train(z: np.ndarray, y: np.ndarray, features: int, up: bool, hidden: int, epochs: int, lr: float,
          weight_decay: float, seed: int) -> Net:
    """An LSTM on windowed, standardised rows ``z`` (rows x seq_len * features) and labels ``y``."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with _deterministic(torch):
            torch.manual_seed(seed)
            seq = torch.tensor(z.reshape(len(z), -1, features), dtype=torch.float32)
            y_mu, y_sd = (0.0, 1.0) if up else (float(y.mean()), float(y.std()) or 1.0)
            target = torch.tensor((y - y_mu) / y_sd, dtype=torch.float32)
            lstm = torch.nn.LSTM(features, hidden, num_layers=1, batch_first=True)
            head = torch.nn.Linear(hidden, 1)
            params = list(lstm.parameters()) + list(head.parameters())
            opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
            loss_of = torch.nn.BCEWithLogitsLoss() if up else torch.nn.MSELoss()
            for _ in range(epochs):
                opt.zero_grad()
                out, _state = lstm(seq)
                loss = loss_of(head(out[:, -1, :]).squeeze(-1), target)
                loss.backward()
                opt.step()
            as64 = lambda t: t.detach().to(torch.float64).numpy().copy()  # noqa: E731
            return Net(as64(lstm.weight_ih_l0), as64(lstm.weight_hh_l0), as64(lstm.bias_ih_l0 + lstm.bias_hh_l0),
                       as64(head.weight)[0], float(head.bias.detach()[0]), y_mu, y_sd, up)
    finally:
        torch.set_num_threads(threads)


class _deterministic:
    def __init__(self, torch: Any) -> None:
        self.torch = torch

    def __enter__(self) -> None:
        self.before = self.torch.are_deterministic_algorithms_enabled()
        self.torch.use_deterministic_algorithms(True)

    def __exit__(self, *exc: Any) -> None:
        self.torch.use_deterministic_algorithms(self.before)


@numba.njit(cache=True)
def _sigmoid(v):  # pragma: no cover - jit
    return 1.0 / (1.0 + math.exp(-v))


@numba.njit(cache=True)
def _forward(z, features, w_ih, w_hh, bias, w_out, b_out, y_mu, y_sd, up):  # pragma: no cover - jit
    rows = z.shape[0]
    steps = z.shape[1] // features
    hidden = w_hh.shape[1]
    out = np.empty(rows)
    h = np.zeros(hidden)
    c = np.zeros(hidden)
    gates = np.zeros(4 * hidden)
    for r in range(rows):
        h[:] = 0.0
        c[:] = 0.0
        for s in range(steps):
            for g in range(4 * hidden):
                acc = bias[g]
                for j in range(features):
                    acc += w_ih[g, j] * z[r, s * features + j]
                for j in range(hidden):
                    acc += w_hh[g, j] * h[j]
                gates[g] = acc
            for u in range(hidden):
                i = _sigmoid(gates[u])
                f = _sigmoid(gates[hidden + u])
                gg = math.tanh(gates[2 * hidden + u])
                o = _sigmoid(gates[3 * hidden + u])
                c[u] = f * c[u] + i * gg
                h[u] = o * math.tanh(c[u])
        acc = b_out
        for u in range(hidden):
            acc += w_out[u] * h[u]
        out[r] = _sigmoid(acc) if up else y_mu + y_sd * acc
    return out


def predict(net: Net, z: np.ndarray, features: int) -> np.ndarray:
    """Predictions for windowed, standardised rows ``z`` (all finite)."""
    return _forward(np.ascontiguousarray(z, dtype=np.float64), features, net.w_ih, net.w_hh, net.bias, net.w_out,
                    net.b_out, net.y_mu, net.y_sd, net.up)
