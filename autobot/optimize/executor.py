"""Where trials run: in this process (the default, and ``--workers 1``) or on Ray (a local instance
of ``--workers N`` CPUs, or an existing cluster with ``--ray-address``).

In-process is the default because on small machines Ray cannot pay for itself: a local instance
takes 9-16 s to start and a trial of 10-600 ms cannot pay for its dispatch (on 2 cores the default
of one worker per core was 2.3-4.8x slower than one process). Ray is the ``distributed`` extra
(``pip install -e ".[distributed]"``, about 240 MB), not part of the lean install.

Either way :meth:`map` returns the outcomes in the order of the jobs, and a job is a pure
function of its contents (:mod:`autobot.optimize.trial`), so a study's results do not depend on
where or in what order its trials ran. On Ray the bars go into the object store once per study
and travel to every worker with the task; the documents travel as text in the job: no worker
reads the driver's disk.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Sequence

from autobot.optimize.trial import Job, Outcome, execute


class InProcess:
    """Runs the jobs one after the other here."""

    workers = 1
    where = "this process"

    def map(self, jobs: Sequence[Job], done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        out = []
        for job in jobs:
            out.append(execute(job))
            if done is not None:
                done(out[-1])
        return out

    def close(self) -> None:
        pass


def _execute_with(job: Job, bars: Any) -> Outcome:
    return execute(dataclasses.replace(job, bars=bars))


def start_ray(workers: int | None, address: str | None) -> tuple[Any, bool]:
    """Ray, connected: to the cluster at ``address``, else a local instance of ``workers`` CPUs (one a
    core by default) on loopback; and whether this call started it (then its owner shuts it down)."""
    ray = ray_module()
    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address, logging_level="ERROR", log_to_driver=False)
        else:
            ray.init(num_cpus=workers or os.cpu_count() or 1, include_dashboard=False,
                     logging_level="ERROR", log_to_driver=False, _node_ip_address="127.0.0.1")
    return ray, started


class RayPool:
    """Runs the jobs as Ray tasks: a local instance of ``workers`` CPUs, or the cluster at ``address``."""

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        ray, self._started = start_ray(workers, address)
        self.ray = ray
        self.workers = int(ray.cluster_resources().get("CPU", workers or 1))
        self.where = f"Ray at {address}" if address else f"a local Ray instance ({self.workers} CPUs)"
        self._remote = ray.remote(num_cpus=1, max_retries=2)(_execute_with)
        self._bars: dict[int, Any] = {}

    def _bars_ref(self, bars: Any) -> Any:
        key = id(bars)
        if key not in self._bars:
            self._bars[key] = (bars, self.ray.put(bars))     # the bars object is kept alive with its ref
        return self._bars[key][1]

    def map(self, jobs: Sequence[Job], done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        refs = [self._remote.remote(dataclasses.replace(job, bars=None), self._bars_ref(job.bars)) for job in jobs]
        index = {ref: k for k, ref in enumerate(refs)}
        results: list[Outcome | None] = [None] * len(refs)
        pending = list(refs)
        while pending:
            ready, pending = self.ray.wait(pending, num_returns=1)
            for ref in ready:
                results[index[ref]] = self.ray.get(ref)
                if done is not None:
                    done(results[index[ref]])     # type: ignore[arg-type]
        return [r for r in results if r is not None]

    def close(self) -> None:
        self._bars.clear()
        if self._started:
            self.ray.shutdown()


class RayMissing(RuntimeError):
    """Ray (the ``distributed`` extra) is not installed."""


def ray_module() -> Any:
    try:
        import ray
    except ImportError:
        raise RayMissing("--workers above 1 and --ray-address run the trials on Ray, which is not installed: "
                         "pip install -e \".[distributed]\" (about 240 MB), or leave both out to run in this "
                         "process") from None
    return ray


def make_executor(workers: int | None, address: str | None) -> InProcess | RayPool:
    """No ``--workers`` (or 1) and no address runs here; ``--workers N`` above 1 or an address on Ray."""
    if address is None and (workers or 1) <= 1:
        return InProcess()
    return RayPool(workers, address)
