"""Run per-file steps: in-process, on a local process pool, or on a Dask cluster."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TypeVar

from dicomscrub.config import DeidConfig
from dicomscrub.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")


def worker_count(config: DeidConfig) -> int:
    """``--jobs``, with 0 meaning every core."""
    return config.batch.jobs or os.cpu_count() or 1


def run_tasks(
    func: Callable[[T, DeidConfig], R], tasks: Sequence[T], config: DeidConfig
) -> Iterator[R]:
    """Yield ``func(task, config)`` for every task, in completion order."""
    if not tasks:
        return
    if config.batch.scheduler:
        yield from _run_dask(func, tasks, config)
        return
    jobs = min(worker_count(config), len(tasks))
    if jobs <= 1:
        for task in tasks:
            yield func(task, config)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(func, task, config) for task in tasks]
        for future in as_completed(futures):
            yield future.result()


def _run_dask(
    func: Callable[[T, DeidConfig], R], tasks: Sequence[T], config: DeidConfig
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
        for future in dask_completed(futures):  # type: ignore[no-untyped-call]
            yield future.result()
    finally:
        client.close()  # type: ignore[no-untyped-call]
