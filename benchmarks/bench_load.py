"""``load_bars`` against ``pandas.read_csv`` on the same large bar CSV, in one run.

Each loader runs in its own child process (so one's memory never counts for the other), several
times alternated; the figures are the child's CPU time and wall time of the load alone and the
child's peak RSS (its VmHWM, which ``os.wait4``'s ru_maxrss bounds from above), minus the RSS the child had after its imports. The ratios are
AutoBot over pandas (the target, issue 27: at most 2 in time and memory), and AutoBot's peak over
the file's size (the documented bound: about 3).

    python benchmarks/bench_load.py                    # 1M bars (~67 MB) and ~250 MB
    python benchmarks/bench_load.py --rows 200000 --repeat 1

The file is the shared BTC perpetual's minutes (``../shared/data/btc_perp_1m_20211231_20220201.csv``)
tiled to the size asked, each tile shifted past the previous one, or a seeded random walk when the
shared data is not there. Nothing here is timed by the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "btc_perp_1m_20211231_20220201.csv"

CHILD = r"""
import json, os, sys, time


def hwm():  # this interpreter's peak RSS in KiB: VmHWM is its own address space's, where
    # ru_maxrss starts at the parent's size (inherited across fork and exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

kind, path = sys.argv[1], sys.argv[2]
if kind == "autobot":
    from autobot.data.bars import load_bars
    import pyarrow.csv  # noqa: F401  (imports are not the load's cost)
else:
    import pandas as pd
base = hwm()
cpu, wall = time.process_time(), time.perf_counter()
if kind == "autobot":
    n = len(load_bars(path))
else:
    n = len(pd.read_csv(path))
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
print(json.dumps({"rows": n, "cpu": cpu, "wall": wall, "base_kib": base, "peak_kib": hwm()}))
"""


def make_file(path: Path, rows: int) -> None:
    """A contract CSV of ``rows`` one-minute bars with ISO timestamps."""
    if SHARED.exists():
        lines = SHARED.read_text().splitlines()[1:]
        body = [line.split(",", 1)[1] for line in lines]
    else:
        rng = np.random.default_rng(7)
        close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, 50_000)))
        body = [f"{c:.2f},{c * 1.001:.2f},{c * 0.999:.2f},{c:.2f},{v:.4f}"
                for c, v in zip(close, rng.uniform(1, 1e6, len(close)))]
    start = np.datetime64("2000-01-01T00:00", "m")
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("timestamp,open,high,low,close,volume\n")
        done = 0
        while done < rows:
            take = min(len(body), rows - done)
            stamps = np.datetime_as_string(start + np.arange(done, done + take), unit="s")
            fh.write("".join(f"{t}Z,{b}\n" for t, b in zip(stamps.tolist(), body[:take])))
            done += take


def run(kind: str, path: Path) -> dict:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, kind, str(path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{kind} failed:\n{err.decode()[-2000:]}")
    got = json.loads(out)
    got["peak_mib"] = got["peak_kib"] / 1024              # VmHWM; wait4's ru_maxrss >= it
    assert usage.ru_maxrss >= got["peak_kib"]
    got["load_mib"] = (got["peak_kib"] - got["base_kib"]) / 1024
    return got


def bench(rows: int, repeat: int, folder: Path) -> dict:
    path = folder / f"bars_{rows}.csv"
    make_file(path, rows)
    size = path.stat().st_size / 2**20
    results: dict[str, list[dict]] = {"autobot": [], "pandas": []}
    for _ in range(repeat):                      # alternated, so a busy moment hits both
        for kind in results:
            results[kind].append(run(kind, path))
    best = {k: {m: min(r[m] for r in v) for m in ("cpu", "wall", "peak_mib", "load_mib")}
            for k, v in results.items()}
    a, p = best["autobot"], best["pandas"]
    summary = {"rows": rows, "file_mib": round(size, 1),
               "autobot": {k: round(v, 3) for k, v in a.items()},
               "pandas": {k: round(v, 3) for k, v in p.items()},
               "cpu_ratio": round(a["cpu"] / p["cpu"], 2), "wall_ratio": round(a["wall"] / p["wall"], 2),
               "peak_ratio": round(a["peak_mib"] / p["peak_mib"], 2),
               "load_ratio": round(a["load_mib"] / max(p["load_mib"], 1), 2),
               "autobot_load_over_file": round(a["load_mib"] / size, 2)}
    path.unlink()
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="*", default=[1_000_000, 3_700_000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        for rows in args.rows:
            s = bench(rows, args.repeat, Path(folder))
            print(json.dumps(s))
            a, p = s["autobot"], s["pandas"]
            print(f"{rows:>9,} bars, {s['file_mib']:.0f} MiB: load_bars {a['cpu']:.2f} s CPU "
                  f"{a['wall']:.2f} s wall, peak {a['peak_mib']:.0f} MiB (+{a['load_mib']:.0f}); "
                  f"pandas.read_csv {p['cpu']:.2f} s CPU {p['wall']:.2f} s wall, peak {p['peak_mib']:.0f} MiB "
                  f"(+{p['load_mib']:.0f}); ratios CPU {s['cpu_ratio']} wall {s['wall_ratio']} "
                  f"peak {s['peak_ratio']} load {s['load_ratio']}; load/file {s['autobot_load_over_file']}",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
