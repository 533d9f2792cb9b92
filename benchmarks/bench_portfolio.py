#!/usr/bin/env python
"""Benchmark the autonomous portfolio against its strategies backtested one after another.

Run from anywhere::

    .venv/bin/python benchmarks/bench_portfolio.py [--bars N]

Measured in one run on the same N bars (default 1,000,000 one-minute bars tiled from
``<repo>/../shared/data/btc_perp_1m_20211231_20220201.csv`` as ``bench_language.tiled_bars``):

* portfolio: the shipped ``policy.yaml`` (its regimes and its three strategies) with every
  ``bar:`` set to ``1m`` so that all N bars drive the strategies and the regime detector, run
  by ``autobot.portfolio.engine.run_portfolio`` (no comparison runs);
* for information, the same policy without its ``max_drawdown`` and ``daily_loss_limit``
  breakers, which otherwise halt or pause trading early in a long run;
* alone: the same three strategy documents (``bar: 1m``), each run by
  ``autobot.backtest.engine.run_backtest`` on the same bars, one after another.

Each measured run is a fresh subprocess (wall time from bars-in-memory to results, peak memory
from ``os.wait4``). Target: portfolio wall time <= 1.2 x the sum of the three alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE.parent))

TARGET = 1.2


def make_project(folder: Path) -> Path:
    """A copy of the shipped policy, regimes and strategies with every bar size set to 1m."""
    (folder / "strategies").mkdir(parents=True)
    (folder / "regimes").mkdir()
    for src in (REPO / "strategies").glob("*.yaml"):
        (folder / "strategies" / src.name).write_text(src.read_text().replace("  bar: 1h\n", "  bar: 1m\n"))
    shutil.copy(REPO / "regimes" / "regimes.yaml", folder / "regimes" / "regimes.yaml")
    shutil.copy(REPO / "policy.yaml", folder / "policy.yaml")
    # for information: the same policy without its circuit breakers, so that it trades all along
    text = (REPO / "policy.yaml").read_text()
    kept = [line for line in text.splitlines(keepends=True)
            if not line.lstrip().startswith(("max_drawdown:", "daily_loss_limit:"))]
    (folder / "policy_no_breakers.yaml").write_text("".join(kept))
    return folder / "policy.yaml"


def worker(kind: str, n: int, project: str, name: str) -> None:
    """One measured run in this process; prints a JSON line."""
    from bench_language import tiled_bars

    from autobot.backtest.engine import run_backtest
    from autobot.portfolio.engine import run_portfolio
    from autobot.workspace import load_policy, load_strategy

    bars, _ = tiled_bars(n)
    policy = load_policy(Path(project) / ("policy_no_breakers.yaml" if name == "no_breakers" else "policy.yaml"))
    t0 = time.perf_counter()
    if kind == "portfolio":
        result = run_portfolio(policy, {"BTCUSDT.BINANCE": bars}, compare=False)
        trades = len(result.trades)
        final = result.final_equity
    else:
        compiled = load_strategy(Path(project) / "strategies" / f"{name}.yaml")
        single = run_backtest(compiled, bars)
        trades = len(single.trades)
        final = single.final_equity
    wall = time.perf_counter() - t0
    print(json.dumps({"wall": wall, "trades": trades, "final": final}))


def measure(kind: str, n: int, project: Path, name: str = "") -> dict[str, Any]:
    proc = subprocess.Popen([sys.executable, str(HERE), "--worker", kind, "--bars", str(n),
                             "--project", str(project), "--name", name], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"worker {kind} {name} failed with status {status}")
    row = json.loads(out.strip().splitlines()[-1])
    row["peak_mib"] = usage.ru_maxrss / 1024
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--project", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--name", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.bars, args.project, args.name)
        return 0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp))
        from autobot.workspace import load_policy
        names = {sid: Path(cs.source.path).stem for sid, cs in load_policy(project).strategies.items()}
        used = load_policy(project).used
        alone = {sid: measure("alone", args.bars, project.parent, names[sid]) for sid in used}
        portfolio = measure("portfolio", args.bars, project.parent)
        unbroken = measure("portfolio", args.bars, project.parent, "no_breakers")
    total_alone = sum(r["wall"] for r in alone.values())
    ratio = portfolio["wall"] / total_alone
    print(f"AutoBot portfolio benchmark: {args.bars:,} one-minute bars (tiled real BTC), every bar: 1m; "
          f"Python {platform.python_version()}; each run a fresh subprocess")
    print(f"    {'run':<28}{'wall s':>10}{'us/bar':>10}{'trades':>10}{'peak MiB':>10}")
    for sid, r in alone.items():
        print(f"    {'alone: ' + sid:<28}{r['wall']:>10.1f}{r['wall'] / args.bars * 1e6:>10.1f}{r['trades']:>10,}"
              f"{r['peak_mib']:>10.0f}")
    print(f"    {'sum of the three':<28}{total_alone:>10.1f}{total_alone / args.bars * 1e6:>10.1f}")
    print(f"    {'portfolio (one engine)':<28}{portfolio['wall']:>10.1f}{portfolio['wall'] / args.bars * 1e6:>10.1f}"
          f"{portfolio['trades']:>10,}{portfolio['peak_mib']:>10.0f}")
    print(f"    {'portfolio without breakers':<28}{unbroken['wall']:>10.1f}"
          f"{unbroken['wall'] / args.bars * 1e6:>10.1f}{unbroken['trades']:>10,}{unbroken['peak_mib']:>10.0f}"
          f"   (for information: {unbroken['wall'] / total_alone:.2f} x the sum)")
    print(f"portfolio / sum of alone = {ratio:.2f} (target <= {TARGET}): {'PASS' if ratio <= TARGET else 'MISS'}"
          f"  [{time.perf_counter() - t0:.0f} s total]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
