"""Compile the fast engine's numba kernel ahead of a first run: ``python -m autobot.fast.warm``.

The kernel (:mod:`autobot.fast.kernel`) is compiled by numba on first use and cached on disk
(beside the installed module, or numba's per-user cache directory where that is read-only). An
empty cache made the first ``--engine fast`` run after install take ~25 s, nearly all of it
compilation; the README's install command runs this module once, so that cost is paid at install
and the first real run takes seconds. One small synthetic run compiles it: the kernel's argument
types are the same for every strategy, account and data set, so one call compiles every path.
"""

from __future__ import annotations

import time


def warm() -> float:
    """Run one small backtest on the fast engine (compiling and caching the kernel); its seconds."""
    from autobot.data.synthetic import generate_example_bars
    from autobot.fast.engine import run_fast
    from autobot.language.compile import compile_strategy_text

    doc = ("strategy: warm\nmarket: {instrument: BTCUSDT.BINANCE, bar: 1h}\n"
           "entry:\n  long: close > open\n  short: close < open\nexit:\n  long: close < open\n"
           "  short: close > open\nrisk:\n  stop_loss: 2%\n  take_profit: 4%\n  trailing_stop: 3%\n"
           "sizing:\n  risk_per_trade: 1%\n")
    started = time.perf_counter()
    run_fast(compile_strategy_text(doc, "warm.yaml"), generate_example_bars(n=300, seed=1), traces=False)
    return time.perf_counter() - started


if __name__ == "__main__":
    print(f"fast engine compiled and cached in {warm():.1f} s")
