"""The search: grammar-guided genetic programming over :mod:`autobot.discover.genome`.

A population of random candidates, then children: two parents picked by tournament (the better
in-sample fitness of three), the child their crossover (half the time) and a mutation; a child
equal to one already evaluated is mutated again. Fitness is the in-sample
Sharpe less ``penalty`` per node (complexity), and only candidates with ``min_trades`` in-sample
trades have one. Each distinct candidate is evaluated once (its rules are its identity), every
indicator value is computed once per series (the fast engine's cache, shared by all candidates),
and every evaluation counts in the statistics (N). Seeded: the same seed, data and options give
the same search. A journal (one JSON line per candidate) records the search as it goes: started
again after a kill, the same seed replays the same candidates (``resumed`` counts those the journal
already held) and the search goes on past them; a journal of another search is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from autobot.discover import genome as G
from autobot.discover.score import Scored, Series


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
    ahead: tuple[int, int] = (0, 0)        # children drawn ahead for other workers: (scored, counted)


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
               journal: Path | None = None, pool: Any = None) -> Searched:
    """The search (module docstring). ``pool`` (:mod:`autobot.discover.workers`) scores each batch of
    candidates; by default here, one after the other. Every batch is drawn whole before any of it
    is scored and its results are taken in the order drawn, so where and in what order they ran
    changes nothing."""
    from autobot.discover.workers import InProcess
    rng = random.Random(opts.seed)
    pool = pool if pool is not None else InProcess(series, opts)
    scored: dict[str, Scored] = {}
    candidates: dict[str, G.Candidate] = {}
    book = Journal(journal, fingerprint(series, opts))
    resumed = 0
    best: float | None = None
    started = time.monotonic()
    keep = _TopK(opts.top)

    spare: dict[str, Scored] = {}          # scores of children drawn ahead whose draw did not stand

    def score_all(batch: list[tuple[G.Candidate, str]]) -> list[Scored]:
        todo = [(c.key(), G.render_document(c, "candidate", instrument, bar, opts.sizing), G.complexity(c), origin)
                for c, origin in batch if c.key() not in spare]
        done = {s.key: s for s in (pool.map(todo) if todo else [])}
        return [dataclasses.replace(spare.pop(c.key()), origin=origin) if c.key() in spare else done[c.key()]
                for c, origin in batch]

    def record(c: G.Candidate, s: Scored) -> None:
        nonlocal resumed, best
        if s.key in book.seen:
            resumed += 1
        else:
            book.add(s)
        scored[s.key], candidates[s.key] = s, c
        keep.add(s)
        if s.fitness is not None and (best is None or s.fitness > best):
            best = s.fitness
        if progress is not None:
            progress(len(scored), opts.budget, best)

    def out_of_time() -> bool:
        return opts.seconds is not None and time.monotonic() - started > opts.seconds

    # the first population: random candidates, drawn whole, then scored together
    population: list[str] = []
    first: list[tuple[G.Candidate, str]] = []
    drawn: set[str] = set()
    tries = 0
    while len(first) < min(opts.population, opts.budget) and tries < opts.population * 20:
        tries += 1
        c = G.random_candidate(rng, opts.sides)
        if c.key() not in drawn:
            drawn.add(c.key())
            first.append((c, "random"))
    if not out_of_time():
        for (c, _), s in zip(first, score_all(first)):
            record(c, s)
        population = [c.key() for c, _ in first]

    def fit(key: str) -> float:
        f = scored[key].fitness
        return f if f is not None else -1e9

    def insert(pop: list[str], key: str) -> list[str]:
        """The population after a child: the fittest stay (elitism)."""
        pop = pop + [key]
        if len(pop) > opts.population:
            pop.sort(key=fit, reverse=True)
            del pop[opts.population:]
        return pop

    def draw(pop: list[str], taken: set[str]) -> tuple[G.Candidate, str] | None:
        """One child of two tournament winners (None: it kept coming out as one already taken)."""
        def pick() -> G.Candidate:
            return candidates[max(rng.sample(pop, min(3, len(pop))), key=fit)]
        a, b = pick(), pick()
        child = G.crossover(a, b, rng) if rng.random() < 0.5 else a
        origin = f"crossover of {a.key()[:8]}.. x {b.key()[:8]}.." if child is not a else "mutation"
        child = G.mutate(child, rng)
        for _ in range(5):
            if child.key() not in scored and child.key() not in taken:
                break
            child = G.mutate(child, rng)
        return None if child.key() in scored or child.key() in taken else (child, origin)

    # then children one at a time (steady state): each drawn from the population as the one before
    # left it. With several workers the next children are drawn ahead, as if each child before them
    # were not fit enough to stay (the common case); once scored, a child drawn ahead counts only if
    # the population it was drawn from is the one the search really reached, and the draws go on from
    # the last one that stood. So the search is the one-process search, child for child.
    ahead = max(1, int(getattr(pool, "workers", 1)))
    stale = drawn_ahead = stood = 0
    while len(scored) < opts.budget and population and not out_of_time() and stale < 200:
        plan: list[tuple[G.Candidate, str, list[str], Any]] = []     # child, origin, drawn from, rng after
        taken: set[str] = set()
        pop = population
        while len(plan) < ahead and len(scored) + len(plan) < opts.budget and stale < 200:
            got = draw(pop, taken)
            if got is None:
                stale += 1
                continue
            stale = 0
            plan.append((got[0], got[1], pop, rng.getstate()))
            taken.add(got[0].key())
            if len(pop) < opts.population:
                break                                     # a child of a population not yet full stays
            pop = sorted(pop, key=fit, reverse=True)[: opts.population]      # as if it did not
        if not plan:
            continue
        results = score_all([(c, origin) for c, origin, _, _ in plan])
        drawn_ahead += len(plan) - 1
        for k, ((c, origin, drawn_from, state), s) in enumerate(zip(plan, results)):
            if drawn_from != population:                  # drawn from a population the search did not reach
                rng.setstate(plan[k - 1][3])
                stale = 0
                for (c2, _, _, _), s2 in zip(plan[k:], results[k:]):
                    spare[c2.key()] = s2
                break
            record(c, s)
            population = insert(population, c.key())
            stood += k > 0
        else:
            if stale and pop != population:               # draws that came to nothing after the last child,
                rng.setstate(plan[-1][3])                 # from a population the search did not reach
                stale = 0
    out = list(scored.values())
    missing = [s for s in keep.top() if s.oos_returns is None]
    if missing:                                           # a worker's answers: the top ones' returns, here
        again = InProcess(series, opts)
        texts = {s.key: G.render_document(candidates[s.key], "candidate", instrument, bar, opts.sizing)
                 for s in missing}
        for s, r in zip(missing, again.map([(s.key, texts[s.key], s.complexity, s.origin) for s in missing])):
            s.oos_returns, s.search_returns = r.oos_returns, r.search_returns
    return Searched(out, candidates, time.monotonic() - started, resumed, (drawn_ahead, stood))


class _TopK:
    """The ``k`` fittest so far, in the order the verdict ranks them (fitness, then first scored);
    the others' per-bar returns are let go (a long search on long series would hold them all)."""

    def __init__(self, k: int) -> None:
        self.k, self.n = k, 0
        self.items: list[tuple[float, int, Scored]] = []

    def add(self, s: Scored) -> None:
        self.n += 1
        if s.fitness is None:
            s.oos_returns, s.search_returns = None, []
            return
        self.items.append((s.fitness, -self.n, s))
        self.items.sort(key=lambda x: (x[0], x[1]), reverse=True)
        for _, _, dropped in self.items[self.k:]:
            dropped.oos_returns, dropped.search_returns = None, []
        del self.items[self.k:]

    def top(self) -> list[Scored]:
        return [s for _, _, s in self.items]
