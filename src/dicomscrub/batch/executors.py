"""Run per-file steps: in-process, on a local process pool, or on a Dask cluster.

The per-file functions never raise, but a worker process can still die under them (a
decoder crash, the out-of-memory killer). The local pool then breaks: every task that
was in flight is rerun alone in a fresh process, so the one that kills its process is
reported as failed and the rest of the batch goes on. Tasks are submitted in a bounded
window, so a million-file run does not hold a million futures.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from dicomscrub.config import DeidConfig
from dicomscrub.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")

CRASH_REASON = "the worker process died on this file (decoder crash or out of memory)"
#: In-flight tasks per worker process.
WINDOW_PER_WORKER = 4


def worker_count(config: DeidConfig) -> int:
    """``--jobs``, with 0 meaning every core."""
    return config.batch.jobs or os.cpu_count() or 1


def run_tasks(
    func: Callable[[T, DeidConfig], R],
    tasks: Sequence[T],
    config: DeidConfig,
    on_crash: Callable[[T, str], R],
    *,
    short: bool = False,
    cost: Callable[[T], int] | None = None,
) -> Iterator[R]:
    """Yield ``func(task, config)`` for every task, in completion order.

    ``on_crash(task, reason)`` stands in for a task whose process died. ``short`` tasks
    (a few milliseconds each, like header-only files) go to the local pool in small
    batches, so that handing them over does not cost as much as doing them; a batch
    whose process dies is rerun one task at a time, as single tasks are.

    ``cost(task)`` estimates a task's work (in any unit, such as bytes). With it, the
    pool starts the costliest tasks first and short batches close at an even share of
    the total cost, so that no worker is left with a long tail while the others idle.
    """
    if not tasks:
        return
    if config.batch.scheduler:
        yield from _run_dask(func, tasks, config, on_crash)
        return
    jobs = min(worker_count(config), len(tasks))
    if jobs <= 1:
        for task in tasks:
            yield func(task, config)
        return
    pending = deque(_batches(tasks, jobs, short, cost))
    while pending:
        inflight: dict[Future[list[R]], list[T]] = {}
        try:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                while pending or inflight:
                    while pending and len(inflight) < jobs * WINDOW_PER_WORKER:
                        inflight[pool.submit(_batch, func, pending[0], config)] = pending[0]
                        pending.popleft()  # only once submitted: a broken pool keeps it
                    done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                    for future in done:
                        results = future.result()  # raises BrokenProcessPool if one died
                        del inflight[future]
                        yield from results
        except BrokenProcessPool:
            for batch in inflight.values():
                for task in batch:
                    yield _isolated(func, task, config, on_crash)


#: Most short tasks handed to a worker at once.
MAX_BATCH = 16


def _batches(
    tasks: Sequence[T], jobs: int, short: bool, cost: Callable[[T], int] | None
) -> Iterator[list[T]]:
    """Split tasks into the pool's work items: single tasks, or for short tasks batches
    of up to MAX_BATCH whose cost is at most an eighth of one worker's share."""
    size = max(1, min(MAX_BATCH, len(tasks) // (jobs * 8))) if short else 1
    if cost is None:
        for i in range(0, len(tasks), size):
            yield list(tasks[i : i + size])
        return
    costs = [max(0, cost(task)) for task in tasks]
    order = sorted(range(len(tasks)), key=lambda i: -costs[i])  # stable: ties keep their order
    budget = sum(costs) / (jobs * 8)
    batch: list[T] = []
    spent = 0
    for i in order:
        if batch and (len(batch) >= size or spent + costs[i] > budget):
            yield batch
            batch, spent = [], 0
        batch.append(tasks[i])
        spent += costs[i]
    if batch:
        yield batch


def _batch(func: Callable[[T, DeidConfig], R], tasks: list[T], config: DeidConfig) -> list[R]:
    return [func(task, config) for task in tasks]


def _isolated(
    func: Callable[[T, DeidConfig], R], task: T, config: DeidConfig,
    on_crash: Callable[[T, str], R],
) -> R:  # fmt: skip
    """Run one task alone in a fresh process; its crash harms nobody else."""
    try:
        with ProcessPoolExecutor(max_workers=1) as pool:
            return pool.submit(func, task, config).result()
    except BrokenProcessPool:
        return on_crash(task, CRASH_REASON)


def _run_dask(
    func: Callable[[T, DeidConfig], R],
    tasks: Sequence[T],
    config: DeidConfig,
    on_crash: Callable[[T, str], R],
) -> Iterator[R]:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError as exc:
        raise ConfigError(
            "--scheduler needs Dask distributed: pip install 'dicomscrub[dask]'"
        ) from exc
    try:
        client = Client(config.batch.scheduler, timeout="10s")  # type: ignore[no-untyped-call]
    except OSError as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {config.batch.scheduler}") from exc
    try:
        futures = client.map(func, list(tasks), config=config, pure=False)
        owner = {future.key: task for future, task in zip(futures, tasks, strict=True)}
        for future in dask_completed(futures):  # type: ignore[no-untyped-call]
            try:
                yield future.result()
            except Exception:  # a killed worker: the task failed, not the run
                yield on_crash(owner[future.key], CRASH_REASON)
    finally:
        client.close()  # type: ignore[no-untyped-call]
