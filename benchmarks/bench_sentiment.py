"""Does the tweets' sentiment predict the next day's return? StockNet (../shared/data/text/stocknet):
106k tweets on 87 US stocks, 2014-2015, and their daily prices.

    python benchmarks/bench_sentiment.py     # writes benchmarks/results/sentiment.json

Each stock's tweets (tokens joined by spaces) are scored with VADER and aggregated per daily bar
by ``autobot.data.text.per_bar``, each counted from the first bar closing after it. A daily bar
closes at 20:00 UTC (16:00 New York in summer; in winter the real close is an hour later, so the
rule is conservative: a tweet after 20:00 UTC counts for the next day). Reported, pooled over
stocks and as the mean per stock: the IC (Spearman) of the day's sentiment with the next day's
return, the hit rate of its sign with a 95% interval, the same for persistence (today's return),
and the after-cost return of "long the next day while sentiment > 0.1" (5 bp a side) against
buy-and-hold, averaged over stocks.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import tarfile
from pathlib import Path

import numpy as np

from autobot.data.text import Texts, per_bar, scores

ROOT = Path(__file__).resolve().parents[1]
NET = ROOT.parent / "shared" / "data" / "text" / "stocknet"
CLOSE_HOUR = 20
COST = 0.0005


def prices(symbol: str) -> tuple[np.ndarray, np.ndarray] | None:
    path = NET / "price" / "raw" / f"{symbol}.csv"
    if not path.exists():
        return None
    days, closes = [], []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            d = dt.datetime.fromisoformat(row["Date"]).replace(tzinfo=dt.timezone.utc, hour=CLOSE_HOUR)
            if dt.datetime(2014, 1, 1, tzinfo=dt.timezone.utc) <= d < dt.datetime(2016, 1, 1, tzinfo=dt.timezone.utc):
                days.append(int(d.timestamp() * 1e9))
                closes.append(float(row["Adj Close"]))
    return np.array(days, dtype=np.int64), np.array(closes)


def tweets() -> dict[str, list[tuple[int, str]]]:
    out: dict[str, list[tuple[int, str]]] = {}
    with tarfile.open(NET / "tweet_preprocessed.tar.gz") as tar:
        for member in tar:
            if not member.isfile():
                continue
            symbol = member.name.split("/")[-2]
            f = tar.extractfile(member)
            if f is None:
                continue
            for line in f.read(64 * 1024 * 1024).decode("utf-8", "replace").splitlines():
                try:
                    obj = json.loads(line)
                    when = dt.datetime.strptime(obj["created_at"], "%a %b %d %H:%M:%S %z %Y")
                    out.setdefault(symbol, []).append((int(when.timestamp() * 1e9), " ".join(obj["text"])))
                except (ValueError, KeyError, TypeError):
                    continue
    return out


def wilson(k: int, n: int) -> list[float]:
    if n == 0:
        return [math.nan, math.nan]
    p, z = k / n, 1.96
    d = 1 + z * z / n
    c, h = (p + z * z / (2 * n)) / d, z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [c - h, c + h]


def main() -> None:
    from scipy.stats import spearmanr
    feed = tweets()
    pooled_s, pooled_p, pooled_r = [], [], []
    per_stock, rule, hold = [], [], []
    n_tweets = 0
    for symbol, rows in sorted(feed.items()):
        px = prices(symbol)
        if px is None or len(px[0]) < 50:
            continue
        rows.sort()
        ts = np.array([r[0] for r in rows], dtype=np.int64)
        n_tweets += len(rows)
        s = per_bar(px[0], ts, scores(Texts(ts, [symbol] * len(rows), [r[1] for r in rows])))["sentiment"]
        r_next = np.append(px[1][1:] / px[1][:-1] - 1, np.nan)
        r_today = np.concatenate(([np.nan], px[1][1:] / px[1][:-1] - 1))
        ok = np.isfinite(s) & np.isfinite(r_next) & np.isfinite(r_today)
        if ok.sum() < 50:
            continue
        pooled_s.extend(s[ok])
        pooled_p.extend(r_today[ok])
        pooled_r.extend(r_next[ok])
        per_stock.append(float(spearmanr(s[ok], r_next[ok])[0]))
        pos = np.where(np.isfinite(s) & (s > 0.1), 1.0, 0.0)
        turns = np.abs(np.diff(np.concatenate(([0.0], pos))))
        gross = np.nansum(np.log1p(pos[:-1] * r_next[:-1]))
        rule.append(float(np.expm1(gross + np.sum(np.log1p(-COST * turns[:-1])))))
        hold.append(float(px[1][-1] / px[1][0] - 1))
    s_, p_, r_ = map(np.array, (pooled_s, pooled_p, pooled_r))
    hit_s = int(np.sum(np.sign(s_) == np.sign(r_)))
    hit_p = int(np.sum(np.sign(p_) == np.sign(r_)))
    out = {"stocks": len(per_stock), "tweets": n_tweets, "days": len(r_),
           "sentiment": {"ic_pooled": float(spearmanr(s_, r_)[0]), "ic_mean_per_stock": float(np.mean(per_stock)),
                         "hit_rate": hit_s / len(r_), "hit_ci95": wilson(hit_s, len(r_))},
           "persistence": {"ic_pooled": float(spearmanr(p_, r_)[0]), "hit_rate": hit_p / len(r_),
                           "hit_ci95": wilson(hit_p, len(r_))},
           "base_rate_up": float(np.mean(r_ > 0)),
           "rule_mean_return": float(np.mean(rule)), "buy_and_hold_mean_return": float(np.mean(hold))}
    print(json.dumps(out, indent=2))
    (ROOT / "benchmarks" / "results" / "sentiment.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
