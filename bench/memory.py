"""Resident memory of the whole service: at rest, per open conversation, under load, in a soak.

`laporbot serve` runs in a subprocess on a fresh SQLite data folder (web chat only, no tokens);
its RSS is read from /proc/<pid>/status. Citizens are web chat clients posting to
`/api/chat/send` from this process (aiohttp), each going through a report conversation.

- at rest: after start-up and a warm-up of 20 whole conversations (so lazy imports and caches
  are loaded), once the inbox and outbox are empty;
- per open session: N new citizens each say "halo" (N open conversations waiting for an
  answer); (RSS after - RSS before) / N;
- under load: 100 updates/s for 30 s; the highest RSS seen;
- soak: steady traffic (20 updates/s, new citizens all the time) for 10 minutes, RSS sampled
  every 10 s; the growth from the sample at minute 2 to the last one. Target: below 5%.

    .venv/bin/python -m bench.memory            # about 12 minutes
    .venv/bin/python -m bench.memory --tiny     # about 40 seconds

`run(tiny=False) -> dict` is the entry point for bench/run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector

from bench._service import ServeProcess

TARGET_SOAK_GROWTH = 0.05
# A report conversation in Indonesian (Kabupaten Bintan), one line per step.
SCRIPT = [
    "halo",
    "1",
    "1",
    "tidak",
    "ya",
    "Kab. Bintan",
    "Bintan Timur",
    "Jl. Raya Kijang No. 7",
    "10",
    "1",
]


@dataclass(frozen=True)
class Sizes:
    """How much of each phase to run."""

    sessions: int
    load_rate: float
    load_seconds: float
    soak_rate: float
    soak_seconds: float
    sample_seconds: float
    soak_baseline_seconds: float


FULL = Sizes(1_000, 100.0, 30.0, 20.0, 600.0, 10.0, 120.0)
TINY = Sizes(200, 50.0, 5.0, 20.0, 20.0, 2.0, 4.0)


def _citizens(concurrent: int) -> Iterator[tuple[str, str]]:
    """An endless stream of (client_id, text): `concurrent` citizens at a time, each through
    the script once, then replaced by a new one."""
    slots = [(f"bench-{uuid.uuid4().hex[:16]}", 0) for _ in range(concurrent)]
    for turn in itertools.count():
        index = turn % concurrent
        client, step = slots[index]
        if step == len(SCRIPT):
            client, step = f"bench-{uuid.uuid4().hex[:16]}", 0
        slots[index] = (client, step + 1)
        yield client, SCRIPT[step]


class Load:
    """Posts web chat messages to the service, open loop at a given rate."""

    def __init__(self, service: ServeProcess, http: ClientSession) -> None:
        self.service = service
        self.http = http
        self.errors = 0
        self.sent = 0
        self._ids = itertools.count(1)

    async def post(self, client: str, text: str) -> None:
        body = {"client_id": client, "message_id": f"m{next(self._ids)}", "text": text}
        try:
            async with self.http.post(f"{self.service.base}/api/chat/send", json=body) as answer:
                await answer.read()
                if answer.status != 200:
                    self.errors += 1
        except OSError:
            self.errors += 1
        self.sent += 1

    async def steady(
        self,
        stream: Iterator[tuple[str, str]],
        rate: float,
        seconds: float,
        sample_every: float | None = None,
    ) -> list[tuple[float, int]]:
        """Post `rate` messages a second for `seconds`; RSS samples (elapsed, KiB) if asked."""
        started = time.perf_counter()
        samples: list[tuple[float, int]] = []
        next_sample = 0.0
        pending: set[asyncio.Task[None]] = set()
        for n in itertools.count():
            at = n / rate
            if at >= seconds:
                break
            while sample_every is not None and next_sample <= at:
                await asyncio.sleep(max(0.0, started + next_sample - time.perf_counter()))
                samples.append((next_sample, self.service.rss_kib()))
                next_sample += sample_every
            await asyncio.sleep(max(0.0, started + at - time.perf_counter()))
            client, text = next(stream)
            task = asyncio.create_task(self.post(client, text))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.gather(*pending)
        if sample_every is not None:
            samples.append((time.perf_counter() - started, self.service.rss_kib()))
        return samples

    async def settle(self, within: float = 120.0) -> None:
        """Wait until every accepted update is processed and every reply delivered."""
        deadline = time.perf_counter() + within
        while time.perf_counter() < deadline:
            health = await asyncio.to_thread(self.service.health)
            if health["inbox_pending"] == 0 and health["outbox_unsent"] == 0:
                await asyncio.sleep(1.0)  # let freed memory be freed
                return
            await asyncio.sleep(0.2)
        raise RuntimeError("the service did not catch up with the load")


async def _run(sizes: Sizes) -> dict[str, Any]:
    # Every simulated citizen posts from this one address, far above what one phone sends:
    # the web chat's flood control is off for the measurement.
    no_flood = {
        "LAPORBOT_WEBCHAT_CLIENT_PER_MINUTE": "0",
        "LAPORBOT_WEBCHAT_ADDRESS_PER_MINUTE": "0",
    }
    with ServeProcess(env=no_flood) as service:
        ready = service.wait_ready()
        await asyncio.sleep(2.0)
        fresh = service.rss_kib()
        connector = TCPConnector(limit=100)
        async with ClientSession(connector=connector, timeout=ClientTimeout(total=60)) as http:
            load = Load(service, http)

            # Warm-up: 20 citizens through the whole script.
            warm = _citizens(20)
            for _ in range(20 * len(SCRIPT)):
                await load.post(*next(warm))
            await load.settle()
            rest = service.rss_kib()

            # N open sessions, each waiting after its first answer.
            before = rest
            openers = [(f"bench-open-{i:06d}", "halo") for i in range(sizes.sessions)]
            await load.steady(iter(openers), 200.0, sizes.sessions / 200.0)
            await load.settle()
            after = service.rss_kib()
            per_session = (after - before) / sizes.sessions

            # Under load.
            samples = await load.steady(
                _citizens(100), sizes.load_rate, sizes.load_seconds, sample_every=1.0
            )
            load_peak = max(kib for _, kib in samples)
            await load.settle()
            after_load = service.rss_kib()

            # Soak.
            soak = await load.steady(
                _citizens(50),
                sizes.soak_rate,
                sizes.soak_seconds,
                sample_every=sizes.sample_seconds,
            )
            await load.settle()
            errors = load.errors
            sent = load.sent
    baseline = next(kib for at, kib in soak if at >= sizes.soak_baseline_seconds)
    growth = (soak[-1][1] - baseline) / baseline
    return {
        "ready_seconds": round(ready, 3),
        "fresh_mib": round(fresh / 1024, 1),
        "rest_mib": round(rest / 1024, 1),
        "sessions": sizes.sessions,
        "per_session_kib": round(per_session, 2),
        "load_rate_per_s": sizes.load_rate,
        "load_peak_mib": round(load_peak / 1024, 1),
        "after_load_mib": round(after_load / 1024, 1),
        "soak_seconds": sizes.soak_seconds,
        "soak_rate_per_s": sizes.soak_rate,
        "soak_samples_mib": [(round(at), round(kib / 1024, 1)) for at, kib in soak],
        "soak_growth_pct": round(growth * 100, 2),
        "posts": sent,
        "post_errors": errors,
        "passed": growth < TARGET_SOAK_GROWTH and errors == 0,
    }


def run(*, tiny: bool = False) -> dict[str, Any]:
    """Measure the service's memory at rest, per session, under load and over a soak."""
    return asyncio.run(_run(TINY if tiny else FULL))


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tiny", action="store_true", help="small sizes, a 20 s soak")
    args = parser.parse_args()
    print(json.dumps(run(tiny=args.tiny), indent=2))


if __name__ == "__main__":
    main()
