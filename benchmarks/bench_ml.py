"""Evidence, not claims: walk-forward models of the language against simple baselines.

    python benchmarks/bench_ml.py            # writes benchmarks/results/ml.json

For each series in ../shared/data/ below and each model kind (linear; LightGBM, seeds 7, 8, 9,
with feature_fraction 0.8 so the seed matters; LSTM, seeds 7 and 8, sequences of 16 bars, 8
units, 60 epochs), the walk-forward prediction of "is the
close higher 6 bars later" from the five features of ``examples/strategies/lightgbm_up.yaml``
(trained on the last 1,500 known rows, retrained every 500 bars; every prediction is out of
sample by construction). Reported:

* IC: Spearman correlation of the prediction with the realised 6-bar log return;
* hit rate (prediction > 0.5 vs the close higher 6 bars later) with a 95% Wilson interval, and
  the base rate (the share of up moves, what "always up" scores);
* the after-cost return of a simple rule, long while the prediction is above 0.5 (positions
  change at bar closes, 5 bp a side), against persistence (long while the last 6-bar return is
  positive), the linear model and buy-and-hold over the same bars;
* cost: training seconds per window, and the streaming prediction latency per bar.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from autobot.data.bars import load_bars
from autobot.evaluate import learn as L
from autobot.evaluate.batch import evaluate
from autobot.language.compile import compile_strategy_text

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SERIES = ["coinbase_btcusd_1h_20170701_20191017.csv", "oanda_eurusd_mid_1h_2007_2018.csv",
          "oanda_xauusd_mid_1h_2006_2019.csv", "spy_1d_19991101_20200828.csv", "nvda_1d_1999_2014.csv"]
H, TRAIN, STEP, COST = 6, 1500, 500, 0.0005
PARAMS = {"linear": (), "lightgbm": (("feature_fraction", 0.8),),
          "lstm": (("epochs", 60.0), ("hidden", 8.0), ("seq_len", 16.0))}


def features(bars):
    cs = compile_strategy_text((ROOT / "examples" / "strategies" / "lightgbm_up.yaml").read_text(), "lightgbm_up")
    node = cs.plan.nodes[cs.plan.named["up_prob"]]
    values = evaluate(cs.plan, bars)
    x = np.ascontiguousarray(np.column_stack([np.asarray(values[j], dtype=np.float64) for j in node.inputs]))
    return x, node.start


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return (math.nan, math.nan)
    p, z = k / n, 1.96
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h


def rule_return(long: np.ndarray, r1: np.ndarray) -> float:
    """Long (1) or flat (0) from each bar's close to the next, 5 bp a side."""
    pos = np.where(np.isfinite(long), long, 0.0)
    gross = pos[:-1] * r1[1:]
    turns = np.abs(np.diff(np.concatenate(([0.0], pos))))[:-1]
    return float(np.expm1(np.sum(gross) + np.sum(np.log1p(-COST * turns))))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr
    return float(spearmanr(a, b)[0])


def one(series: str) -> list[dict]:
    bars = load_bars(DATA / series)
    x, start = features(bars)
    close = bars.close
    up = L.labels(close, H, "up")
    ret = L.labels(close, H, "return")
    r1 = np.concatenate(([np.nan], np.log(close[1:] / close[:-1])))
    rows = []
    preds: dict[str, np.ndarray] = {}
    for kind, seeds in (("linear", (7,)), ("lightgbm", (7, 8, 9)), ("lstm", (7, 8))):
        for seed in seeds:
            params = PARAMS[kind]
            spec = L.Spec(kind, "up", H, TRAIN, STEP, params, seed, start)
            spec = L.Spec(kind, "up", H, TRAIN, STEP, params, seed, start + L.lookback(spec) - 1)  # as compiled
            t0 = time.perf_counter()
            p = L.walk_forward(spec, x, close)
            seconds = time.perf_counter() - t0
            windows = max(1, math.ceil((len(close) - L.first_retrain(spec.start, spec)) / STEP))
            preds[f"{kind}:{seed}"] = p
            online = L.Online(spec)
            lat = []
            for k in range(len(close)):
                s0 = time.perf_counter()
                online(float(close[k]), *map(float, x[k]))
                if online.trained_at != k:
                    lat.append(time.perf_counter() - s0)
            m = np.isfinite(p) & np.isfinite(up)
            hits = int(np.sum((p[m] > 0.5) == (up[m] > 0.5)))
            lo, hi = wilson(hits, int(m.sum()))
            first = int(np.argmax(np.isfinite(p)))
            rows.append({"series": series, "kind": kind, "seed": seed, "bars": len(close), "predicted": int(m.sum()),
                         "ic": spearman(p[m], ret[m]), "hit_rate": hits / max(int(m.sum()), 1), "hit_ci95": [lo, hi],
                         "base_rate_up": float(np.mean(up[m])),
                         "rule_return": rule_return(np.where(p > 0.5, 1.0, 0.0)[first:], r1[first:]),
                         "train_seconds_per_window": seconds / windows,
                         "predict_us_per_bar": 1e6 * float(np.median(lat)) if lat else None})
    first = int(np.argmax(np.isfinite(preds["linear:7"])))
    last6 = np.concatenate((np.full(H, np.nan), np.log(close[H:] / close[:-H])))
    baselines = {"persistence": rule_return(np.where(last6 > 0, 1.0, 0.0)[first:], r1[first:]),
                 "buy_and_hold": float(close[-1] / close[first] - 1)}
    m = np.isfinite(preds["linear:7"]) & np.isfinite(ret)
    baselines["persistence_ic"] = spearman(last6[m], ret[m])
    for row in rows:
        row["baselines"] = baselines
    return rows


def main() -> None:
    out = []
    for series in SERIES:
        if not (DATA / series).exists():
            print(f"skipped {series}: not in {DATA}")
            continue
        for row in one(series):
            print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
            out.append(row)
    (ROOT / "benchmarks" / "results" / "ml.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
