"""Where ``autobot discover`` scores its candidates: here (the default, ``--workers 1``), on Ray
(a local instance of ``--workers N`` CPUs, or the cluster at ``--ray-address``, as ``optimize``
does), or, when Ray (the ``distributed`` extra) is not installed, a pool of ``--workers N`` local
processes.

Every worker prepares each series once (the bars as a strategy sees them, the instrument, the
TA-Lib values of each distinct indicator: :class:`autobot.discover.score.SearchRun`) and keeps
them for every batch it is sent. A worker answers with a candidate's scores only, not its per-bar
returns (the search computes those again, here, for the few top candidates that need them), and
:meth:`map` gives the answers in the order of the jobs: a candidate's score is a pure function of
its document and the data, so the search does not depend on where or in what order it ran.
"""

from __future__ import annotations

from typing import Any, Sequence

from autobot.discover.score import Scored, SearchRun, Series, score

Job = tuple[str, str, int, str]          # key, document text, complexity, origin


class _Scorer:
    """The series made ready once, and the options a score needs."""

    def __init__(self, series: list[Series], capital: float, min_trades: int, penalty: float,
                 keep_returns: bool) -> None:
        self.runs = [SearchRun(s, capital) for s in series]
        self.min_trades, self.penalty, self.keep_returns = min_trades, penalty, keep_returns

    def score(self, jobs: Sequence[Job]) -> list[Scored]:
        return [score(key, text, complexity, self.runs, self.min_trades, self.penalty, origin, self.keep_returns)
                for key, text, complexity, origin in jobs]


class InProcess:
    """Scores the jobs one after the other in this process."""

    workers = 1
    where = "this process"

    def __init__(self, series: list[Series], opts: Any) -> None:
        self._scorer = _Scorer(series, opts.capital, opts.min_trades, opts.penalty, True)

    def map(self, jobs: Sequence[Job]) -> list[Scored]:
        return self._scorer.score(jobs)

    def close(self) -> None:
        pass


def _chunks(jobs: Sequence[Job], workers: int) -> list[list[Job]]:
    """Small enough that a slow candidate does not hold the batch (about four a worker)."""
    size = max(1, -(-len(jobs) // (4 * workers)))
    return [list(jobs[k:k + size]) for k in range(0, len(jobs), size)]


class RayWorkers:
    """One Ray actor a CPU, each holding the series made ready: a local instance of ``workers``
    CPUs, or the cluster at ``address``. The series go into the object store once."""

    def __init__(self, series: list[Series], opts: Any, workers: int | None = None,
                 address: str | None = None) -> None:
        from autobot.optimize.executor import start_ray
        ray, self._started = start_ray(workers, address)
        self.ray = ray
        self.workers = workers or int(ray.cluster_resources().get("CPU", 1))
        self.where = f"Ray at {address}" if address else f"a local Ray instance ({self.workers} CPUs)"
        actor = ray.remote(num_cpus=1, max_restarts=2, max_task_retries=2)(_Scorer)
        self._series = ray.put(series)                   # kept: an actor restarted reads it again
        self._actors = [actor.remote(self._series, opts.capital, opts.min_trades, opts.penalty, False)
                        for _ in range(self.workers)]

    def map(self, jobs: Sequence[Job]) -> list[Scored]:
        from ray.util import ActorPool
        pool = ActorPool(self._actors)
        out: list[Scored] = []
        for part in pool.map(lambda a, chunk: a.score.remote(chunk), _chunks(jobs, self.workers)):
            out += part
        return out

    def close(self) -> None:
        for a in self._actors:
            self.ray.kill(a)
        self._actors = []
        if self._started:
            self.ray.shutdown()


_SCORER: _Scorer | None = None


def _init(series: list[Series], capital: float, min_trades: int, penalty: float) -> None:
    global _SCORER
    _SCORER = _Scorer(series, capital, min_trades, penalty, False)


def _score_chunk(jobs: list[Job]) -> list[Scored]:
    assert _SCORER is not None
    return _SCORER.score(jobs)


class ProcessWorkers:
    """``workers`` local processes (started fresh: spawn), each holding the series made ready."""

    def __init__(self, series: list[Series], opts: Any, workers: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        self.workers = workers
        self.where = f"{workers} local processes (Ray is not installed)"
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init,
                                         initargs=(series, opts.capital, opts.min_trades, opts.penalty))

    def map(self, jobs: Sequence[Job]) -> list[Scored]:
        out: list[Scored] = []
        for part in self._pool.map(_score_chunk, _chunks(jobs, self.workers)):
            out += part
        return out

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


def make_pool(series: list[Series], opts: Any, workers: int | None, address: str | None) -> Any:
    """No ``--workers`` (or 1) and no address: here. Else Ray; without Ray, local processes (an
    address needs Ray: :class:`autobot.optimize.executor.RayMissing`)."""
    if address is None and (workers or 1) <= 1:
        return InProcess(series, opts)
    from autobot.optimize.executor import RayMissing, ray_module
    try:
        ray_module()
    except RayMissing:
        if address is not None:
            raise
        return ProcessWorkers(series, opts, int(workers or 1))
    return RayWorkers(series, opts, workers, address)
