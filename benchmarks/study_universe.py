"""The study behind the shipped universe policy (policies/universe_daily.yaml, docs/universe_study.md).

    python benchmarks/study_universe.py [--jobs 2]    # writes benchmarks/results/universe_study.json

Pre-registered candidates (the time-series momentum strategy's long-short or long-only x lookback 63/126/252 x risk per trade
2/4/8%; the
stop at 4 ATR(20), equal shares, drawdown scaling) are backtested on the training span only
(1998-01-01 .. 2014-01-01) of ../shared/data/universe's nine USD-quoted series (EUR/GBP is left
out: a portfolio keeps one account currency); the one with the best training Sharpe whose
drawdown stays inside the policy's 25% limit is then run once on the untouched span
(2014-01-01 .. 2021-04-01), beside the universe's equal-weight buy-and-hold over the same span.
Every run is ``autobot backtest --policy ... --universe ...`` on NautilusTrader.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "universe"
FILES = ["spy_1d.csv", "iwm_1d.csv", "eem_1d.csv", "uso_1d.csv", "bno_1d.csv", "eurusd_mid_1d.csv",
         "gbpusd_mid_1d.csv", "xauusd_mid_1d.csv", "btcusd_coinbase_1d.csv"]
TRAIN = ("1998-01-01", "2014-01-01")
TEST = ("2014-01-01", "2021-04-01")
CANDIDATES = [{"lookback": lb, "risk": r, "shorts": sh} for sh in (1, 0) for lb in (63, 126, 252)
              for r in (0.02, 0.04, 0.08)]
KEEP = ("sharpe", "annual_return", "max_drawdown", "total_return", "trades", "win_rate")


def run(params: dict, span: tuple[str, str], tmp: Path) -> dict:
    from autobot.optimize.apply import set_defaults
    folder = Path(tempfile.mkdtemp(dir=tmp))
    shutil.copytree(ROOT / "policies", folder / "p")
    doc = folder / "p" / "strategies" / "tsmom.yaml"
    doc.write_text(set_defaults(doc.read_text(), str(doc), params))
    out = folder / "r.json"
    cmd = [sys.executable, "-m", "autobot.cli.main", "backtest", "--policy", str(folder / "p" / "universe_daily.yaml"),
           "--start", span[0], "--end", span[1], "--json", str(out)]
    for name in FILES:
        iid = name.split("_")[0].upper()
        cmd += ["--universe", f"{iid}.SIM={DATA / name}"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        return {"params": params, "span": span, "error": done.stderr.strip()[-400:]}
    d = json.loads(out.read_text())
    return {"params": params, "span": span, **{k: d.get(k) for k in KEEP},
            "buy_and_hold": {k: d["buy_and_hold"].get(k) for k in KEEP if k != "trades"},
            "mean_gross_exposure": (d.get("exposures") or {}).get("portfolio", {}).get("mean_gross"),
            "breaker_trips": len(d.get("breaker_trips") or [])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        with ThreadPoolExecutor(a.jobs) as pool:
            train = list(pool.map(lambda p: run(p, TRAIN, tmp), CANDIDATES))
        for row in train:
            print("train", json.dumps(row), flush=True)
        fit = [r for r in train if "error" not in r and (r["max_drawdown"] or 1) < 0.25 and r["sharpe"] is not None]
        chosen = max(fit, key=lambda r: r["sharpe"])["params"] if fit else CANDIDATES[0]
        test = run(chosen, TEST, tmp)
        print("test", json.dumps(test), flush=True)
    result = {"train_span": TRAIN, "test_span": TEST, "files": FILES, "candidates": CANDIDATES, "train": train,
              "chosen": chosen, "test": test}
    (ROOT / "benchmarks" / "results" / "universe_study.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
