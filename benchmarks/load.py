"""The load generator: several processes, each with threads, each thread its own connection.

A `Plan` names a client class ("module:Class"); every thread builds one instance from
the plan's common parameters and its own, then calls `step` in a loop:

- closed loop (`rate` 0): the next request as soon as the last one is answered;
- open loop (`rate` > 0): request k of thread w is due at start + (w + k*threads)/rate,
  whether or not earlier ones were slow, and latency counts from that due time, so a
  stalled server is not hidden by a generator that waits for it (coordinated omission).

Every step returns samples (plain tuples, see `Sample`), merged in the parent. All
processes start together after every thread has connected; every loop ends at the
deadline, and the parent terminates whatever has not reported back in time. Meanwhile
each process keeps a running count of its samples (and failed ones) in shared memory,
which the parent shows as the phase's progress line.
"""

from __future__ import annotations

import importlib
import multiprocessing
import queue
import resource
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from benchmarks.progress import ProgressLine

SETUP_TIMEOUT = 60.0  # seconds for every thread to connect
REPORT_GRACE = 60.0  # seconds after the deadline for in-flight requests and the hand-over
COUNT_INTERVAL = 0.25  # seconds between two updates of a process's running count


class Sample(NamedTuple):
    """One request (or one operation of a ceiling client)."""

    worker: int  # thread index, 0 .. concurrency-1
    due: float  # open loop: when it was scheduled; closed loop: when it was sent
    start: float  # time.monotonic(), the same clock in every process
    end: float
    status: int  # HTTP status; 0 for a transport error or a timeout; ceilings: 1 ok, 0 failed
    settled: float  # when its outcome was final (0.0: never)
    ref: str  # e.g. the order id
    note: str  # e.g. the order status, or what went wrong

    @property
    def failed(self) -> bool:
        """No answer, a failed operation (status 0), or an HTTP error."""
        return self.status == 0 or self.status >= 400


class Client(Protocol):
    def step(self, due: float) -> Sequence[Sample] | None:
        """Do one request; None once there is nothing more to do."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class Plan:
    client: str  # "package.module:Class"
    common: dict[str, Any]
    own: list[dict[str, Any]]  # one per thread: len(own) is the concurrency
    duration: float
    processes: int
    label: str  # what the progress line calls the phase
    rate: float = 0.0  # > 0: open loop at this total rate, per second

    @property
    def concurrency(self) -> int:
        return len(self.own)


@dataclass
class Result:
    samples: list[Sample]
    started: float
    deadline: float
    problems: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0  # used by the generator's processes while running the plan

    @property
    def cores_used(self) -> float:
        """The generator's own CPU use during the run, in cores (of os.cpu_count())."""
        seconds = self.deadline - self.started
        return self.cpu_seconds / seconds if seconds > 0 else 0.0


def run(plan: Plan) -> Result:
    """Run `plan`; the samples of every thread, once all processes have reported or died."""
    processes = max(1, min(plan.processes, plan.concurrency))
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(processes + 1)
    go = context.Barrier(processes + 1)
    start_at = context.Value("d", 0.0)
    reports = context.Queue()
    counts = context.Array("q", 2 * processes, lock=False)  # per process: samples, failed
    children = [
        context.Process(
            target=_child,
            args=(plan, slot, processes, ready, go, start_at, reports, counts),
            daemon=True,
            name=f"oms-bench-load-{slot}",
        )
        for slot in range(processes)
    ]
    try:
        for child in children:
            child.start()
        ready.wait(timeout=SETUP_TIMEOUT)
        start_at.value = time.monotonic() + 0.05
        go.wait(timeout=SETUP_TIMEOUT)
        with ProgressLine(plan.label, plan.duration) as progress:
            return _collect(reports, children, start_at.value, plan.duration, counts, progress)
    finally:
        _stop(children)


def _collect(
    reports: Any,
    children: list[Any],
    started: float,
    duration: float,
    counts: Any,
    progress: ProgressLine,
) -> Result:
    result = Result([], started, started + duration)
    give_up = result.deadline + REPORT_GRACE
    waiting = len(children)
    while waiting and time.monotonic() < give_up:
        progress.show(sum(counts[0::2]), sum(counts[1::2]), time.monotonic() - started)
        all_gone = not any(child.is_alive() for child in children)
        try:  # a child that has exited has flushed its report: one more look finds it
            samples, problems, cpu = reports.get(timeout=1.0 if all_gone else 0.5)
        except queue.Empty:
            if all_gone:
                break
            continue
        waiting -= 1
        result.samples.extend(Sample(*sample) for sample in samples)
        result.problems.extend(problems)
        result.cpu_seconds += cpu
    elapsed = min(time.monotonic() - started, duration)  # a drained consumer ends early
    progress.finish(sum(counts[0::2]), sum(counts[1::2]), elapsed)
    if waiting:
        result.problems.append(f"{waiting} load process(es) did not report")
    result.samples.sort(key=lambda sample: sample.due)
    return result


def _stop(children: list[Any]) -> None:
    """Children that reported exit by themselves; the rest (interrupted, stuck) are ended."""
    for child in children:
        if child.pid is None:
            continue  # never started
        child.join(timeout=2)
        if child.is_alive():
            child.terminate()
            child.join(timeout=5)
        if child.is_alive():
            child.kill()
            child.join(timeout=5)


def _child(
    plan: Plan,
    slot: int,
    processes: int,
    ready: Any,
    go: Any,
    start_at: Any,
    reports: Any,
    counts: Any,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    workers = list(range(slot, plan.concurrency, processes))
    problems: list[str] = []
    clients = _build_clients(plan, workers, problems)
    ready.wait(timeout=SETUP_TIMEOUT)
    go.wait(timeout=SETUP_TIMEOUT)
    start = start_at.value
    began = _cpu_seconds()
    collected: list[list[Sample]] = [[] for _ in clients]
    threads = [
        threading.Thread(
            target=_loop, args=(plan, worker, client, start, collected[index], problems)
        )
        for index, (worker, client) in enumerate(clients)
    ]
    running = threading.Event()
    running.set()
    counter = threading.Thread(target=_count, args=(collected, counts, slot, running), daemon=True)
    for thread in [*threads, counter]:
        thread.start()
    for thread in threads:
        thread.join()
    running.clear()
    counter.join()
    cpu = _cpu_seconds() - began
    reports.put(([sample for part in collected for sample in part], problems, cpu))


def _count(collected: list[list[Sample]], counts: Any, slot: int, running: Any) -> None:
    """Keep this process's running count of samples and failed ones, until the loops end.

    Only new samples are looked at; the threads only ever append to their lists.
    """
    seen = [0] * len(collected)
    failed = 0
    while True:
        last_look = not running.is_set()
        for index, part in enumerate(collected):
            new = part[seen[index] :]
            seen[index] += len(new)
            failed += sum(1 for sample in new if sample.failed)
        counts[2 * slot], counts[2 * slot + 1] = sum(seen), failed
        if last_look:
            return
        time.sleep(COUNT_INTERVAL)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _build_clients(plan: Plan, workers: list[int], problems: list[str]) -> list[tuple[int, Client]]:
    module_name, class_name = plan.client.split(":")
    factory = getattr(importlib.import_module(module_name), class_name)
    clients = []
    for worker in workers:
        try:
            clients.append((worker, factory(plan.common, plan.own[worker], worker)))
        except Exception as error:
            problems.append(f"worker {worker} could not start: {error!r}")
    return clients


def _loop(
    plan: Plan, worker: int, client: Client, start: float, out: list[Sample], problems: list[str]
) -> None:
    deadline = start + plan.duration
    try:
        if plan.rate > 0:
            _open_loop(plan, worker, client, start, deadline, out)
        else:
            _closed_loop(client, start, deadline, out)
    except Exception as error:
        problems.append(f"worker {worker} stopped: {error!r}")
    finally:
        try:
            client.close()
        except Exception as error:
            problems.append(f"worker {worker} did not close cleanly: {error!r}")


def _closed_loop(client: Client, start: float, deadline: float, out: list[Sample]) -> None:
    _sleep_until(start)
    while (now := time.monotonic()) < deadline:
        samples = client.step(now)
        if samples is None:
            return
        out.extend(samples)


def _open_loop(
    plan: Plan, worker: int, client: Client, start: float, deadline: float, out: list[Sample]
) -> None:
    interval = plan.concurrency / plan.rate
    due = start + worker / plan.rate
    while due < deadline:
        _sleep_until(due)
        samples = client.step(due)
        if samples is None:
            return
        out.extend(samples)
        due += interval


def _sleep_until(moment: float) -> None:
    pause = moment - time.monotonic()
    if pause > 0:
        time.sleep(pause)
