"""Walk-forward studies of the shipped strategies on the long real series in ../shared/data/,
the evidence behind the shipped defaults (docs/optimize.md, "The shipped strategies").

    python benchmarks/study_shipped.py [--trials 100]   # writes benchmarks/results/shipped_studies.json

Each study is ``autobot optimize STRATEGY --data SERIES --instrument ID --json ...`` (walk-forward,
5 windows, seed 42); a strategy's defaults change only where its study ends ``significant``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SERIES = [("coinbase_btcusd_1h_20170701_20191017.csv", "BTCUSD.COINBASE"),
          ("oanda_eurusd_mid_1h_2007_2018.csv", "EURUSD.OANDA"),
          ("oanda_xauusd_mid_1h_2006_2019.csv", "XAUUSD.OANDA"),
          ("spy_1d_19991101_20200828.csv", "SPY.ARCA")]


def one(args: tuple[Path, str, str, int, Path]) -> dict:
    strategy, series, iid, trials, tmp = args
    out = tmp / f"{strategy.stem}_{iid}.json"
    cmd = [sys.executable, "-m", "autobot.cli.main", "optimize", str(strategy), "--data", str(DATA / series),
           "--instrument", iid, "--trials", str(trials), "--workers", "1", "--confirm", "1", "--json", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        return {"strategy": strategy.stem, "series": series, "instrument": iid, "error": done.stderr.strip()[-400:]}
    doc = json.loads(out.read_text())
    keep = ("annual_return", "max_drawdown", "sharpe", "win_rate", "trades", "total_return", "span_days")
    return {"strategy": doc["strategy"], "series": series, "instrument": iid, "verdict": doc["verdict"],
            "dsr": doc["dsr"], "pbo": doc["pbo"], "oos_psr": doc["oos_psr"], "best_params": doc["best_params"],
            "oos": {k: doc["oos"][k] for k in keep}, "buy_and_hold": {k: doc["oos_buy_and_hold"][k] for k in keep},
            "oos_success": doc["oos_success"], "reasons": doc["reasons"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = [(s, f, iid, a.trials, Path(tmp)) for f, iid in SERIES for s in sorted((ROOT / "strategies").glob("*.yaml"))]
        with ThreadPoolExecutor(a.jobs) as pool:
            rows = list(pool.map(one, work))
    for r in rows:
        print(json.dumps(r), flush=True)
    (ROOT / "benchmarks" / "results" / "shipped_studies.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
