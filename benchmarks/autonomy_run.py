"""Years without a human: the shipped policy (max_drawdown demotes to paper by default) on the long
real series in ../shared/data/, with its breaker trips, cooldowns, demotions, promotions and the
days it would have had capital (docs/challenge.md, "Years without a human").

    python benchmarks/autonomy_run.py        # writes benchmarks/results/autonomy.json

Each run is ``autobot backtest --policy policy.yaml --data SERIES --instrument ID`` (the shipped
strategies on their own bar size); the numbers come from its JSON's ``challenge`` block. Each
series runs twice: the shipped challenge (the seed's bar), and a lenient one (``promote_when:
sharpe > 0.5 and trades >= 5``) that shows the loop of demotions and re-promotions turning (an
illustration of the machinery, not a recommendation).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SERIES = [("oanda_eurusd_mid_1h_2007_2018.csv", "EURUSD.OANDA"),
          ("oanda_xauusd_mid_1h_2006_2019.csv", "XAUUSD.OANDA"),
          ("coinbase_btcusd_1h_20170701_20191017.csv", "BTCUSD.COINBASE"),
          ("spy_1d_19991101_20200828.csv", "SPY.ARCA")]


LENIENT = "  promote_when: sharpe > 0.5 and trades >= 5\n"


def project(tmp: Path, lenient: bool) -> Path:
    """The shipped project, with the lenient challenge when asked."""
    import shutil
    where = tmp / ("lenient" if lenient else "shipped")
    if not where.exists():
        shutil.copytree(ROOT / "strategies", where / "strategies")
        shutil.copytree(ROOT / "regimes", where / "regimes")
        text = (ROOT / "policy.yaml").read_text()
        if lenient:
            start = text.index("  promote_when:")
            text = text[:start] + LENIENT + text[text.index("\n", start) + 1:]
        (where / "policy.yaml").write_text(text)
    return where / "policy.yaml"


def one(series: str, iid: str, tmp: Path, lenient: bool) -> dict:
    out = tmp / f"{iid}-{lenient}.json"
    cmd = [sys.executable, "-m", "autobot.cli.main", "backtest", "--policy", str(project(tmp, lenient)),
           "--data", str(DATA / series), "--instrument", iid, "--json", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        return {"series": series, "error": done.stderr.strip()[-600:]}
    doc = json.loads(out.read_text())
    ch = doc["challenge"]
    moves = ch["transitions"]
    trips: dict[str, int] = {}
    for t in doc["breaker_trips"]:
        trips[t["reason"]] = trips.get(t["reason"], 0) + 1
    portfolio = [m for m in moves if m["subject"] == "portfolio"]
    return {
        "series": series, "challenge": "lenient" if lenient else "shipped", "bars": doc["bars"],
        "days": doc["span_days"],
        "paper": {k: doc[k] for k in ("total_return", "annual_return", "max_drawdown", "sharpe", "trades")},
        "buy_and_hold": {k: doc["buy_and_hold"][k] for k in ("total_return", "annual_return", "max_drawdown")},
        "trips": trips, "cooldowns_ended": len(doc["breaker_resumes"]),
        "demotions": sum(m["to"] == "demoted" for m in portfolio),
        "promotions_to_capital": sum(m["to"] == "capital_1" for m in portfolio),
        "strategy_moves": {s: sum(m["subject"] == s for m in moves) for s in ch["days"] if s != "portfolio"},
        "days_in_stages": ch["days"]["portfolio"], "days_with_capital": ch["days_with_capital"],
        "capital_return": ch["capital_return"], "capital_max_drawdown": ch["capital_max_drawdown"],
        "first_moves": [(_iso(m["ts"]), m["subject"], m["from"], m["to"]) for m in moves[:8]],
    }


def _iso(ns: int) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for series, iid in SERIES:
            if not (DATA / series).exists():
                print(f"skipped {series}: not in {DATA}", file=sys.stderr)
                continue
            for lenient in (False, True):
                row = one(series, iid, Path(tmp), lenient)
                print(json.dumps(row), flush=True)
                rows.append(row)
    (ROOT / "benchmarks" / "results" / "autonomy.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
