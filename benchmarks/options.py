"""The options of `python -m benchmarks` (`make bench`), and what `--quick` makes of them."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
QUICK = {"duration": 3.0, "warmup": 0.5, "calibration_checkouts": 3}  # both modes in < 1 min
QUICK_CEILING_SECONDS = 1.0


@dataclass(frozen=True)
class Options:
    modes: tuple[str, ...]
    duration: float
    warmup: float
    concurrency: int
    processes: int
    bus_workers: int
    calibration: int
    output: Path
    picture: Path
    database_admin_url: str
    broker_url: str
    strict: bool
    quick: bool

    @property
    def ceiling_duration(self) -> float:
        """The ceilings are plain rates: half the phase duration measures them well."""
        return QUICK_CEILING_SECONDS if self.quick else max(5.0, self.duration / 2)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Options:
        if args.quick:
            vars(args).update(QUICK)
        modes = ("embedded", "broker") if args.mode == "both" else (args.mode,)
        processes = args.processes or min(args.concurrency, max(2, os.cpu_count() or 2))
        output = Path(args.output)
        return cls(
            modes=modes,
            duration=args.duration,
            warmup=args.warmup,
            concurrency=args.concurrency,
            processes=processes,
            bus_workers=args.bus_workers,
            calibration=args.calibration_checkouts,
            output=output,
            picture=output.with_suffix(".svg"),
            database_admin_url=args.database_admin_url,
            broker_url=args.broker_url,
            strict=args.strict,
            quick=args.quick,
        )


def parser() -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark OMS (embedded and broker mode) against this machine's ceilings",
    )
    _add_arguments(found)
    return found


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short phases (3 s, ceilings 1 s, 3 calibration checkouts): both modes in under "
        "a minute, to check a change; the figures are rough",
    )
    parser.add_argument("--mode", choices=("embedded", "broker", "both"), default="both")
    parser.add_argument(
        "--duration", type=float, default=30.0, help="seconds per phase (default 30)"
    )
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="unmeasured seconds before each closed loop"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument(
        "--processes", type=int, default=0, help="load generator processes (default: cores)"
    )
    parser.add_argument(
        "--bus-workers", type=int, default=1, help="`oms worker` processes in broker mode"
    )
    parser.add_argument("--calibration-checkouts", type=int, default=20)
    parser.add_argument(
        "--output",
        default="bench-results.json",
        help="the results as JSON; the picture goes beside it (.svg)",
    )
    parser.add_argument(
        "--database-admin-url",
        default=os.environ.get("OMS_BENCH_DATABASE_ADMIN_URL", DEFAULT_ADMIN_URL),
        help="PostgreSQL on loopback, allowed to create and drop databases",
    )
    parser.add_argument(
        "--broker-url",
        default=os.environ.get("OMS_BENCH_BROKER_URL", DEFAULT_BROKER_URL),
        help="RabbitMQ on loopback",
    )
    parser.add_argument("--strict", action="store_true", help="exit 3 when a target is not met")
