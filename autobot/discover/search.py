"""The search: grammar-guided genetic programming over :mod:`autobot.discover.genome`.

A population of random candidates, then generations of children: two parents picked by
tournament (the better in-sample fitness of three), the child their crossover (half the time) and
a mutation; a child equal to one already evaluated is mutated again. Fitness is the in-sample
Sharpe less ``penalty`` per node (complexity), and only candidates with ``min_trades`` in-sample
trades have one. Each distinct candidate is evaluated once (its rules are its identity), every
indicator value is computed once per series (the fast engine's cache, shared by all candidates),
and every evaluation counts in the statistics (N). Seeded: the same seed, data and options give
the same search. A journal (one JSON line per candidate) records the search as it goes: started
again after a kill, the same seed replays the same candidates (``resumed`` counts those the journal
already held) and the search goes on past them; a journal of another search is refused.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from autobot.discover import genome as G
from autobot.discover.score import Scored, Series, score


@dataclass(frozen=True)
class Options:
    budget: int = 300
    seconds: float | None = None
    seed: int = 42
    sides: tuple[str, ...] = ("long", "short")
    sizing: str = "equity_pct: 100%"
    capital: float = 100_000.0
    min_trades: int = 10
    penalty: float = 0.02              # annualised Sharpe per node
    population: int = 40
    top: int = 20


@dataclass
class Searched:
    scored: list[Scored]
    candidates: dict[str, G.Candidate]
    seconds: float
    resumed: int


def fingerprint(series: list[Series], opts: Options) -> str:
    h = hashlib.sha256()
    for s in series:
        h.update(s.instrument.encode())
        for col in (s.bars.ts, s.bars.open, s.bars.high, s.bars.low, s.bars.close):
            h.update(np.ascontiguousarray(col).tobytes())
        h.update(f"{s.is_end},{s.search_end}".encode())
    h.update(json.dumps([opts.seed, list(opts.sides), opts.sizing, opts.capital, opts.min_trades, opts.penalty,
                         opts.population]).encode())
    return h.hexdigest()[:16]


class Journal:
    """One JSON line per candidate evaluated (its key, origin and scores), after a header naming
    the search; a journal of another search is refused."""

    def __init__(self, path: Path | None, mark: str) -> None:
        self.path, self.seen = path, {}
        if path is None:
            return
        if path.exists():
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            try:
                head = json.loads(lines[0]) if lines else {}
            except json.JSONDecodeError:
                head = {}
            if head.get("discover") != mark:
                raise ValueError(f"{path} is the journal of another search (other data, seed or options): "
                                 "pass another --journal or delete it")
            for line in lines[1:]:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue                    # a line cut by a kill
                self.seen[row["key"]] = row
        else:
            path.write_text(json.dumps({"discover": mark}) + "\n", encoding="utf-8")

    def add(self, s: Scored) -> None:
        if self.path is None:
            return
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"key": s.key, "origin": s.origin, "fitness": s.fitness}) + "\n")


def run_search(series: list[Series], opts: Options, instrument: str, bar: str,
               progress: Callable[[int, int, float | None], None] | None = None,
               journal: Path | None = None) -> Searched:
    rng = random.Random(opts.seed)
    caches: list[dict[Any, Any]] = [{} for _ in series]
    scored: dict[str, Scored] = {}
    candidates: dict[str, G.Candidate] = {}
    book = Journal(journal, fingerprint(series, opts))
    resumed = 0
    started = time.monotonic()

    def evaluate(c: G.Candidate, origin: str) -> Scored | None:
        nonlocal resumed
        key = c.key()
        if key in scored:
            return None
        text = G.render_document(c, "candidate", instrument, bar, opts.sizing)
        s = score(key, text, G.complexity(c), series, caches, opts.capital, opts.min_trades, opts.penalty, origin)
        if key in book.seen:
            resumed += 1
        else:
            book.add(s)
        scored[key], candidates[key] = s, c
        if progress is not None:
            best = max((x.fitness for x in scored.values() if x.fitness is not None), default=None)
            progress(len(scored), opts.budget, best)
        return s

    def out_of_time() -> bool:
        return opts.seconds is not None and time.monotonic() - started > opts.seconds

    population: list[str] = []
    tries = 0
    while len(scored) < min(opts.population, opts.budget) and tries < opts.population * 20 and not out_of_time():
        tries += 1
        c = G.random_candidate(rng, opts.sides)
        if evaluate(c, "random") is not None:
            population.append(c.key())

    def fit(key: str) -> float:
        f = scored[key].fitness
        return f if f is not None else -1e9

    def pick() -> G.Candidate:
        return candidates[max(rng.sample(population, min(3, len(population))), key=fit)]

    stale = 0
    while len(scored) < opts.budget and population and not out_of_time() and stale < 200:
        a, b = pick(), pick()
        child = G.crossover(a, b, rng) if rng.random() < 0.5 else a
        origin = f"crossover of {a.key()[:8]}.. x {b.key()[:8]}.." if child is not a else "mutation"
        child = G.mutate(child, rng)
        for _ in range(5):
            if child.key() not in scored:
                break
            child = G.mutate(child, rng)
        if evaluate(child, origin) is None:
            stale += 1
            continue
        stale = 0
        population.append(child.key())
        if len(population) > opts.population:          # the fittest stay (elitism)
            population.sort(key=fit, reverse=True)
            del population[opts.population:]
    return Searched(list(scored.values()), candidates, time.monotonic() - started, resumed)
