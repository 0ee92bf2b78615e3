"""Every benchmark in one run, and one table of each figure beside its target.

    bench/run            # the full suite (about 25 minutes on 2 cores)
    bench/run --tiny     # every benchmark once at a tiny size (CI; about 2 minutes)
    bench/run --only outbox,startup

The table is printed as Markdown and written to bench/results/latest.md (the raw figures to
bench/results/latest.json). A figure that misses its target is marked FAIL and the run still
exits 0; a benchmark that crashes is marked CRASH and the run exits 1 (after running the rest).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    figure: str
    value: str
    target: str
    verdict: str  # PASS, FAIL, "-" (reported, no target), CRASH, n/a


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _ms(value: float) -> str:
    return f"{value:.2f} ms"


# -- each benchmark: run it, then turn its figures into rows -----------------------------------


def bench_inbound(tiny: bool) -> tuple[Any, list[Row]]:
    try:
        from bench import inbound
    except ImportError as exc:
        row = Row("Inbound pipeline", f"not available ({exc})", "ratio ≥ 0.50, p99 < 20 ms", "n/a")
        return None, [row]
    figures = inbound.run(tiny=tiny)
    base = figures.get("aiogram", {})
    base_cpu = base.get("open_cost", {}).get("cpu_ms_per_update", float("nan"))
    rows = []
    for name, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        got = figures.get(name)
        if got is None:
            rows.append(Row(f"Inbound pipeline, {label}", "not measured (no database)", "", "n/a"))
            continue
        ratio = got["ratio_to_aiogram"]
        rows.append(
            Row(
                f"Inbound throughput vs bare aiogram echo, {label}",
                f"{ratio:.2f}× ({got['throughput_per_s']:.0f} vs"
                f" {base.get('throughput_per_s', 0):.0f} updates/s)",
                "≥ 0.50×",
                _verdict(ratio >= 0.5),
            )
        )
        rate = got.get("rate_achieved_per_s", 0)
        cost = got["open_cost"]
        rows.append(
            Row(
                f"Inbound p99, request → outbox committed, {label}",
                f"{got['p99_ms']:.1f} ms at {rate:.0f} updates/s, steady"
                f" (p50 {got['p50_ms']:.1f} ms; whole run with ramps: p99"
                f" {got['all']['p99_ms']:.1f} ms; server CPU"
                f" {cost['cpu_ms_per_update']:.2f} ms/update, aiogram's {base_cpu:.2f};"
                f" GC {cost['gc_ms_total']:.0f} ms in {cost['gc_collections']} pauses,"
                f" longest {cost['gc_ms_max']:.1f} ms)",
                "< 20 ms at 500/s",
                _verdict(got["p99_ms"] < 20 and rate >= 0.95 * 500),
            )
        )
    return figures, rows


def bench_outbox(tiny: bool) -> tuple[Any, list[Row]]:
    from bench import outbox

    got = outbox.run(*((300, 100) if tiny else (10_000, 1_000)))
    over = got["overhead_pct"]
    delivery = ""
    if got["delivered"] != got["messages"]:
        errors = "; ".join(f"{n}× {e}" for e, n in got["send_errors"].items()) or "none"
        delivery = (
            f"; {got['delivered']:,} answered 200, {got['delivered_twice']} sent twice,"
            f" send errors: {errors}"
        )
    return got, [
        Row(
            f"Outbox: {got['messages']:,} messages to {got['chats']:,} chats, Telegram limits",
            f"{got['seconds']:.1f} s (min {got['minimum_seconds']:.1f} s, {over:+.1f}%;"
            f" mean answer {got['send_latency_ms_mean']:.0f} ms, load average"
            f" {max(got['load_average']):.1f} on {got['cpus']} cores{delivery})",
            "≤ +5%",
            _verdict(over <= outbox.TARGET_OVERHEAD * 100 and got["delivered"] == got["messages"]),
        ),
        Row("Outbox: 429 answers", str(got["answers_429"]), "0", _verdict(got["answers_429"] == 0)),
    ]


def bench_reminders(tiny: bool) -> tuple[Any, list[Row]]:
    from bench import reminder_sweep

    small, large = (100, 1_000) if tiny else (1_000, 1_000_000)
    got = reminder_sweep.compare(small, large)
    a, b = got["small"], got["large"]
    return got, [
        Row(
            f"Reminder sweep: find the due among {small:,} vs {large:,} open cases",
            f"{_ms(a['find_due_ms_median'])} vs {_ms(b['find_due_ms_median'])}"
            f" (×{got['find_due_ratio']:.2f})",
            "ratio ≤ 1.5 (flat)",
            _verdict(got["find_due_ratio"] <= 1.5),
        ),
        Row(
            f"Reminder sweep: send 20 due, {small:,} vs {large:,} open cases",
            f"{_ms(a['sweep_20_due_ms'])} vs {_ms(b['sweep_20_due_ms'])}"
            f" (×{got['sweep_ratio']:.2f}, one sweep each)",
            "reported",
            "-",
        ),
    ]


def bench_memory(tiny: bool) -> tuple[Any, list[Row]]:
    from bench import memory

    got = memory.run(tiny=tiny)
    seconds = got["soak_seconds"]
    soak = f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
    start = memory.TINY.soak_baseline_seconds if tiny else memory.FULL.soak_baseline_seconds
    return got, [
        Row("Memory: whole service at rest (RSS)", f"{got['rest_mib']:.1f} MiB", "reported", "-"),
        Row(
            "Memory: per open conversation session",
            f"{got['per_session_kib']:.1f} KiB ({got['sessions']:,} sessions)",
            "reported",
            "-",
        ),
        Row(
            f"Memory: under load ({got['load_rate_per_s']:.0f} updates/s), peak RSS",
            f"{got['load_peak_mib']:.1f} MiB",
            "reported",
            "-",
        ),
        Row(
            f"Memory: soak, {soak} at {got['soak_rate_per_s']:.0f} updates/s,"
            f" growth from {start:g} s to the end",
            f"{got['soak_growth_pct']:+.2f}% ({got['posts']:,} posts, {got['post_errors']} errors)",
            "< 5%",
            _verdict(got["passed"]),
        ),
    ]


def bench_startup(tiny: bool) -> tuple[Any, list[Row]]:
    from bench import startup

    got = startup.run(2 if tiny else 5)
    return got, [
        Row(
            f"Start-up: `laporbot serve` (SQLite) to /healthz 200, median of {got['runs']}",
            f"{got['median_seconds']:.2f} s (load {got['load_average'][0]:.2f})",
            "< 2 s",
            _verdict(got["passed"]),
        )
    ]


BENCHMARKS: dict[str, Callable[[bool], tuple[Any, list[Row]]]] = {
    "inbound": bench_inbound,
    "outbox": bench_outbox,
    "reminders": bench_reminders,
    "memory": bench_memory,
    "startup": bench_startup,
}


# -- the report ------------------------------------------------------------------------------


def _machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except OSError:
        commit = ""
    return (
        f"{os.cpu_count()} cores ({model or platform.machine()}), Python"
        f" {platform.python_version()}, {platform.system()}; commit {commit or '?'}"
    )


def markdown(rows: list[Row], *, tiny: bool, started: datetime, seconds: float) -> str:
    """The table with a header saying where and when it was measured."""
    size = "tiny sizes (a smoke run: figures not comparable to the targets)" if tiny else "full"
    lines = [
        f"Measured {started:%Y-%m-%d %H:%M} UTC, {size}, in {seconds / 60:.1f} min on"
        f" {_machine()}.",
        "",
        "| Figure | Measured | Target | Result |",
        "|---|---|---|---|",
    ]
    for row in rows:
        cells = (row.figure, row.value, row.target, row.verdict)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tiny", action="store_true", help="every benchmark at a tiny size")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")

    started_at = datetime.now(UTC)
    began = time.perf_counter()
    rows: list[Row] = []
    raw: dict[str, Any] = {}
    crashed = False
    for name in names:
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        clock = time.perf_counter()
        try:
            figures, got = BENCHMARKS[name](args.tiny)
        except Exception as exc:
            traceback.print_exc()
            crashed = True
            figures, got = {"error": repr(exc)}, [Row(name, f"crashed: {exc!r}"[:200], "", "CRASH")]
        raw[name] = figures
        rows.extend(got)
        took = time.perf_counter() - clock
        print(f"bench: {name} done in {took:.0f} s", file=sys.stderr, flush=True)
        for row in got:
            print(f"  {row.verdict:5} {row.figure}: {row.value}", file=sys.stderr, flush=True)

    table = markdown(rows, tiny=args.tiny, started=started_at, seconds=time.perf_counter() - began)
    RESULTS.mkdir(exist_ok=True)
    suffix = "-tiny" if args.tiny else ""
    (RESULTS / f"latest{suffix}.md").write_text(table)
    (RESULTS / f"latest{suffix}.json").write_text(json.dumps(raw, indent=2, default=str) + "\n")
    print(table)
    print(f"(written to {RESULTS / f'latest{suffix}.md'})")
    sys.exit(1 if crashed else 0)


if __name__ == "__main__":
    main()
