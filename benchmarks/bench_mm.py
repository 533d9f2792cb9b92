"""Market making on books: throughput, the strategy's cost per quoting step, and replay parity.

    python benchmarks/bench_mm.py            # writes benchmarks/results/mm.json

* book updates per second through the Nautilus backtest (deltas and trades handed to the engine,
  over the wall time of ``engine.run`` and the strategy), on the real Binance BTCUSDT spot capture
  (../shared/data/raw/hftbacktest, 10.8 minutes, both files) and on a synthetic hour;
* microseconds per quoting step in the strategy (evaluating the document, reading the book and
  placing or replacing orders, Nautilus' own order handling included), median and 95th percentile;
* the paper node on the replayed book against the backtest: fills equal, one by one.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import numpy as np

from autobot.backtest.book import run_book_backtest
from autobot.data.book_files import load_book
from autobot.data.book_synthetic import BookModel, synthetic_book
from autobot.language.compile import compile_strategy_text
from autobot.live.book import run_book_replay

ROOT = Path(__file__).resolve().parents[1]
SPOT = sorted((ROOT.parent / "shared" / "data" / "raw" / "hftbacktest" / "spot").glob("btcusdt_*.gz"))
EXAMPLES = ["mm_inventory_skew", "mm_avellaneda", "ob_imbalance_taker"]


def one(name: str, doc: Path, book, label: str) -> dict:
    cs = compile_strategy_text(doc.read_text(), str(doc))
    out = {"data": label, "strategy": doc.stem, "deltas": int(len(book.ts)), "trades": int(len(book.trade_ts)),
           "market_seconds": (book.end_ns - book.start_ns) / 1e9}
    for queue in ("conservative", "optimistic"):
        t0 = time.perf_counter()
        r = run_book_backtest(cs, book, queue=queue, time_steps=True)
        total = time.perf_counter() - t0
        steps = np.array(r.step_seconds) * 1e6
        out[queue] = {"wall_seconds": total, "engine_seconds": r.wall_seconds,
                      "updates_per_second": (out["deltas"] + out["trades"]) / r.wall_seconds,
                      "steps": len(steps), "step_us_median": float(np.median(steps)) if len(steps) else None,
                      "step_us_p95": float(np.percentile(steps, 95)) if len(steps) else None,
                      "pnl": r.metrics["pnl"], "pnl_breakdown": r.metrics["pnl_breakdown"], "fills": r.metrics["fills"],
                      "fill_ratio": r.metrics["fill_ratio"], "quote_uptime": r.metrics["quote_uptime"]}
    return out


def parity(doc: Path, book, label: str) -> dict:
    cs = compile_strategy_text(doc.read_text(), str(doc))
    backtest = run_book_backtest(cs, book, queue="conservative")
    t0 = time.perf_counter()
    live = run_book_replay(doc, book, queue="conservative", watch=False)
    wall = time.perf_counter() - t0
    key = lambda f: (f.ts, f.side, f.price, f.qty, f.fee)  # noqa: E731
    same = list(map(key, backtest.fills)) == list(map(key, live.result.fills))
    return {"data": label, "strategy": doc.stem, "fills_backtest": len(backtest.fills),
            "fills_replay": len(live.result.fills), "identical": same,
            "pnl_backtest": backtest.metrics["pnl"], "pnl_replay": live.result.metrics["pnl"],
            "replay_wall_seconds": wall, "replay_items_per_second": live.published / wall}


def main() -> None:
    results: dict = {"runs": [], "parity": []}
    books = []
    if SPOT:
        books.append(("binance BTCUSDT spot capture", load_book(SPOT)))
    else:
        print("skipped the Binance capture: not in ../shared/data/raw/hftbacktest")
    syn, _ = synthetic_book(BookModel(seconds=3600, lot=0.001, price=60000.0), seed=7)
    books.append(("synthetic hour (zero-intelligence, seed 7)", syn))
    for label, book in books:
        for name in EXAMPLES:
            row = one(name, ROOT / "examples" / "strategies" / f"{name}.yaml", book, label)
            print(json.dumps({k: row[k] for k in ("data", "strategy", "deltas", "trades")}),
                  {q: {k: round(v, 3) if isinstance(v, float) else v for k, v in row[q].items() if k != "pnl_breakdown"}
                   for q in ("conservative", "optimistic")}, flush=True)
            results["runs"].append(row)
        p = parity(ROOT / "examples" / "strategies" / "mm_inventory_skew.yaml", book, label)
        print(p, flush=True)
        results["parity"].append(p)
    rates = [r["conservative"]["updates_per_second"] for r in results["runs"]]
    steps = [r["conservative"]["step_us_median"] for r in results["runs"] if r["conservative"]["step_us_median"]]
    results["summary"] = {"updates_per_second_median": statistics.median(rates),
                          "step_us_median_of_medians": statistics.median(steps)}
    (ROOT / "benchmarks" / "results" / "mm.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
