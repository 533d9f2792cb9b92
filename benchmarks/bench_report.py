"""How long ``autobot report daily`` takes on a year of 1-minute equity (525,600 journal rows).

    python benchmarks/bench_report.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autobot.persistence.journal import Journal  # noqa: E402
from autobot.report.journal_report import build, read, write_html  # noqa: E402


def main() -> None:
    minutes = 365 * 1440
    t0 = 1_704_067_200 * 1_000_000_000
    rng = np.random.default_rng(1)
    equity = 100_000 * np.cumprod(1 + rng.normal(0, 2e-4, minutes))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.sqlite"
        j = Journal(path, commit_every=1_000_000)
        j.begin("bench")
        j.db.executemany("INSERT INTO equity VALUES (?, ?, ?, ?)",
                         [(j.run, t0 + k * 60_000_000_000, float(e), "calm") for k, e in enumerate(equity)])
        j.commit()
        j.close()
        t = time.perf_counter()
        journal = read(path)
        t_read = time.perf_counter() - t
        rep = build(journal, "daily")
        t_build = time.perf_counter() - t - t_read
        write_html(journal, rep, Path(tmp) / "r.html")
        total = time.perf_counter() - t
    print(f"{minutes:,} equity rows: read {t_read:.2f} s, statistics {t_build:.2f} s, total with the HTML {total:.2f} s")


if __name__ == "__main__":
    main()
