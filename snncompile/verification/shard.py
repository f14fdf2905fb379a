"""verify --workers N: the samples split into chunk-sized shards, run by an executor, merged back in sample order."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import socket
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from snncompile import progress as progress_module
from snncompile.errors import InternalError, error
from snncompile.sim.device import DEFAULT_DEVICE, simulator_device
from snncompile.verification.data import VerifyData
from snncompile.verification.merge import OrderedMerge, Partial
from snncompile.verification.runner import RunStats, chunk_size, log, new_stats, run_chunk
from snncompile.verification.stages import Layer, Stage

Chunk = tuple[np.ndarray, np.ndarray | None]
"""Frames [T, b, ...] and labels [b] or None, as VerifyData.chunks yields them."""


@dataclass(frozen=True)
class Shard:
    """Samples [start, stop) of the data, with their frames [T, stop - start, ...] and labels; `keep`: how many
    of the data's first samples the statistics keep as frames (stats.head, for Lava in the calling process);
    `device`: where its simulator stages run (the caller's simulator_device, which a worker does not inherit)."""

    start: int
    stop: int
    frames: np.ndarray
    labels: np.ndarray | None
    keep: int = 0
    device: str | None = None


def shards(chunks: Iterable[Chunk], keep: int = 0, device: str | None = None) -> Iterator[Shard]:
    """Each chunk read from the data as one shard, numbered by its first sample as the chunks arrive: the shards
    are exactly the chunks a single-process run simulates ([0, c), [c, 2c), ...), so every stage sees the same
    batches of samples and the spikes are bit-identical to the single run by construction. The chunks are read
    only when a shard is handed to a worker (the calling process holds the shards in flight, not the data)."""
    start = 0
    for x, labels in chunks:
        yield Shard(start, start + x.shape[1], x, labels, keep, device)
        start += x.shape[1]


def run_shard(stages: list[Stage], layers: list[Layer], shard: Shard) -> Partial:
    """Every stage on one shard: the statistics of its samples, without the stage objects (they stay with the
    caller; the statistics name stages by name)."""
    stats = new_stats(stages, layers)
    with simulator_device(shard.device):
        run_chunk(stats, shard.frames, shard.labels, shard.start, shard.keep)
    return Partial(shard.start, shard.stop, replace(stats, stages=[]), (socket.gethostname(),))


Held = Callable[[], int]
"""How many finished partials the caller holds unmerged (they count against the shards in flight)."""


def none_held() -> int:
    return 0


class Executor(Protocol):
    """Runs shards somewhere and yields their partial statistics in the order they finish."""

    name: str
    workers: int

    def run(self, stages: list[Stage], layers: list[Layer], work: Iterator[Shard], held: Held = none_held
            ) -> Iterator[Partial]: ...


@dataclass
class InProcess:
    """Shards one after another in this process (the merge path without processes; tests use it)."""

    name: str = "in-process"
    workers: int = 1

    def run(self, stages: list[Stage], layers: list[Layer], work: Iterator[Shard], held: Held = none_held
            ) -> Iterator[Partial]:
        for shard in work:
            yield run_shard(stages, layers, shard)


_WORKER: dict[str, Any] = {}
"""Per worker process: the file of the pickled stages, then the unpickled (stages, layers)."""


def _init_worker(payload: str, threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the workers
    torch.set_num_threads(threads)
    _WORKER["payload"] = payload


def _worker_shard(shard: Shard) -> Partial:
    if "stages" not in _WORKER:
        try:
            _WORKER["stages"] = pickle.loads(Path(_WORKER["payload"]).read_bytes())
        except Exception as exc:  # a class the parent could pickle but this process cannot import
            raise unpicklable(exc, "a worker process could not unpickle") from None
    stages, layers = _WORKER["stages"]
    return run_shard(stages, layers, shard)


def unpicklable(exc: BaseException, what: str) -> Exception:
    return error("SNC973", f"{what} the verification stages (the model and the compiled graphs): "
                 f"{type(exc).__name__}: {exc}",
                 hint="define the model's classes in an importable module (not __main__ or a notebook), or verify "
                      "in one process: --workers 1")


def threads_per_worker(workers: int) -> int:
    """The CPUs of this process divided among the workers (at least one thread each)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cpus // workers)


@dataclass
class Processes:
    """`workers` local processes (spawned: torch is not fork-safe), each given the pickled stages once; at
    most two shards per worker are in flight or waiting to be merged, so the calling process reads the data
    only as fast as the workers use it."""

    workers: int
    name: str = "processes"

    def run(self, stages: list[Stage], layers: list[Layer], work: Iterator[Shard], held: Held = none_held
            ) -> Iterator[Partial]:
        try:
            payload = pickle.dumps((stages, layers), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise unpicklable(exc, "cannot pickle") from None
        # through a file, not the spawn pipe: CPython blocks writing a large process object to a child that died
        # before reading it (a script without the __main__ guard), and the workers read it once each
        with tempfile.TemporaryDirectory(prefix="snncompile-shards-") as tmp:
            path = Path(tmp) / "stages.pickle"
            path.write_bytes(payload)
            del payload
            pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_init_worker, initargs=(str(path), threads_per_worker(self.workers)))
            try:
                yield from window(lambda shard: _submit(pool, shard), _result, work, 2 * self.workers,
                                  held=held)
            except BaseException:
                _stop(pool)
                raise
            pool.shutdown(wait=True)


def _died() -> Exception:
    return error("SNC974", "a verification worker process died before returning its shard (killed for memory, or "
                 "see its error above)", hint="use fewer workers (--workers), a smaller --batch, or --workers 1; a "
                 "script that calls verify(workers=N) must do so under `if __name__ == \"__main__\":`")


def _submit(pool: ProcessPoolExecutor, shard: Shard) -> Future[Partial]:
    try:
        return pool.submit(_worker_shard, shard)
    except (BrokenProcessPool, BrokenPipeError):  # a new worker died while it was being started
        raise _died() from None


def _result(future: Future[Partial]) -> Partial:
    try:
        return future.result()
    except BrokenProcessPool:
        raise _died() from None


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what is queued and end the workers now (an error or an interrupt: their shards are not needed)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown forgets them
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        proc.terminate()


def window(submit: Callable[[Shard], Any], result: Callable[[Any], Partial], work: Iterator[Shard], limit: int,
           wait_any: Callable[[set[Any]], Iterable[Any]] | None = None, held: Held = none_held) -> Iterator[Partial]:
    """Keep at most `limit` shards submitted or finished but not merged yet (`held()`, counted by the consumer of
    the partials); read the next shard from `work` only below that; yield each partial as its shard finishes.
    `wait_any(pending)` returns the finished handles once there is one (default: concurrent.futures.wait).
    Nothing pending means nothing held: the partials of all shards read so far are then merged."""
    wait_any = wait_any or _first_futures
    pending: set[Any] = set()
    for shard in work:
        pending.add(submit(shard))
        while pending and len(pending) + held() >= limit:
            yield from _finished(pending, result, wait_any)
    while pending:
        yield from _finished(pending, result, wait_any)


def _first_futures(pending: set[Any]) -> Iterable[Any]:
    return wait(pending, return_when=FIRST_COMPLETED)[0]


def _finished(pending: set[Any], result: Callable[[Any], Partial], wait_any: Callable[[set[Any]], Iterable[Any]]
              ) -> Iterator[Partial]:
    for handle in list(wait_any(pending)):
        pending.discard(handle)
        yield result(handle)


def run_sharded(stages: list[Stage], layers: list[Layer], data: VerifyData, batch: int | None, progress: bool,
                executor: Executor, keep: int = 0) -> tuple[RunStats, dict[str, Any]]:
    """Every stage on every chunk of `data`, read here chunk by chunk (data.chunks: any source, one-shot
    iterators and DataLoaders included) and sent to `executor` as shards; the partials merged in sample order
    into what run_stages returns for the same data, batch and `keep`; plus a record of how it ran (executor,
    workers, shards, hosts). The progress bar advances as shards complete."""
    merged = OrderedMerge()
    read = [0, 0]  # shards and samples read from the data
    hosts: set[str] = set()

    def counted(chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        for x, labels in chunks:
            read[0] += 1
            read[1] += x.shape[1]
            yield x, labels

    device = DEFAULT_DEVICE.get()
    work = shards(counted(data.chunks(chunk_size(stages, data.timesteps, batch))), keep,
                  None if device is None else str(device))
    with progress_module.shown(progress), progress_module.task("verify", data.samples, "samples") as advance:
        for done, part in enumerate(executor.run(stages, layers, work, merged.held), start=1):
            merged.add(part)
            hosts.update(part.hosts)
            advance(part.stop - part.start, description=f"verify: {done} shards done on {executor.workers} "
                    f"{executor.name}")
    result = merged.result
    if result is None or merged.held() or (result.start, result.stop, result.stats.samples) != (0, read[1], read[1]):
        got = 0 if result is None else result.stats.samples
        raise InternalError(f"sharded verification returned {got} of {read[1]} samples")
    stats = result.stats
    stats.stages = stages
    for stage in stages:
        log.info("stage %s: %d samples in %.2f s of worker time (%d shards on %d %s)", stage.name, stats.samples,
                 stats.seconds.get(stage.name, 0.0), read[0], executor.workers, executor.name)
    return stats, {"executor": executor.name, "workers": executor.workers, "shards": read[0],
                   "hosts": sorted(hosts)}


def executor_for(workers: int = 1, ray: str | None = None) -> Executor | None:
    """How verify runs its shards: None for one process (workers=1, no ray: runner.run_stages), local worker
    processes for workers > 1, Ray tasks for `ray` (an address, "auto" or "local"; with "local", `workers`
    sizes the instance). Bad values are SNC970 and a missing Ray SNC420 (naming the extra), checked before
    anything is compiled."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise error("SNC970", f"workers must be a whole number >= 1, not {workers!r}",
                    hint="--workers N with N >= 1 (1: verify in this process)")
    if workers > 1 and getattr(multiprocessing.current_process(), "_inheriting", False):
        raise error("SNC975", "verify(workers=...) was called while a worker process was importing the main script: "
                    "the script calls verify at import time",
                    hint="put the call under `if __name__ == \"__main__\":` (Python's rule for spawned processes)")
    if ray is None:
        return None if workers == 1 else Processes(workers)
    from snncompile.verification.ray_shards import LOCAL, RayTasks, ray_module

    if not isinstance(ray, str) or not ray.strip():
        raise error("SNC970", f"--ray needs a cluster address, `auto` or `{LOCAL}`, not {ray!r}",
                    hint="--ray host:6379, --ray ray://host:10001, --ray auto, or --ray local")
    if workers > 1 and ray != LOCAL:
        raise error("SNC970", f"--workers {workers} with --ray {ray}: on an existing cluster Ray places the shards "
                    "on its CPUs itself",
                    hint=f"drop --workers, or start a local instance of N CPUs: --ray {LOCAL} --workers N")
    ray_module()
    return RayTasks(ray.strip(), workers if workers > 1 else None)
