"""Start-up: `laporbot serve` on a fresh SQLite data folder until `/healthz` answers 200.

Each run is a new process on a new, empty data folder, so the time includes the interpreter,
the imports, the migrations of an empty database, loading the standards and flows, compiling
the catalogs and opening the port. Target: the median of 5 runs under 2 seconds.

Start-up is CPU work on one core, so another busy process on the machine lengthens it directly;
the machine's load average before and after is reported beside the times.

    .venv/bin/python -m bench.startup            # 5 runs
    .venv/bin/python -m bench.startup --tiny     # 2 runs

`run(runs) -> dict` is the entry point for bench/run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from typing import Any

from bench._service import ServeProcess

TARGET_SECONDS = 2.0


def run(runs: int = 5) -> dict[str, Any]:
    """Start `laporbot serve` `runs` times; the median and each time to a 200 on /healthz."""
    times = []
    load_before = os.getloadavg()[0]
    for _ in range(runs):
        with ServeProcess() as service:
            times.append(service.wait_ready())
    median = statistics.median(times)
    return {
        "runs": runs,
        "median_seconds": round(median, 3),
        "seconds": [round(t, 3) for t in times],
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
        "passed": median < TARGET_SECONDS,
    }


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tiny", action="store_true", help="2 runs")
    args = parser.parse_args()
    print(json.dumps(run(2 if args.tiny else 5), indent=2))


if __name__ == "__main__":
    main()
