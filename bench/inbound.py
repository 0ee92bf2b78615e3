"""Inbound pipeline: Telegram webhook -> inbox -> conversation engine -> state + outbox committed.

Compared, in the same run, with a bare aiogram dispatcher behind aiohttp's webhook handler
(`SimpleRequestHandler`) whose echo handler answers inside the webhook response: it stores
nothing and makes no outgoing call, the most a Python Telegram bot can do on this machine.

The load: many distinct citizens, each going through the whole report conversation (14 updates:
text answers, a shared location and inline button presses as `callback_query`, the English
transcript of the channel contract suite), as real Telegram update JSON posted to the webhook
with its secret header. The load generator is an aiohttp client in a separate process, so it
does not share the server's event loop.

- Throughput: 40 connections (Telegram's default `max_connections`), each citizen's updates one
  after the other (the next once the previous one is answered, as Telegram delivers a chat's
  updates in order); updates / (first request sent .. last update done). "Done" is, for aiogram,
  the webhook answered; for laporbot, the update's conversation state and outbox rows committed.
- Latency: open loop, whatever the answers: citizens arrive at random moments (seeded) and go
  through their steps at an even pace, so that in the steady window the load is 500 updates/s
  of every step mixed, as when people arrive one after another (`open_schedule`); the figures
  are of the updates sent in that window (`all` keeps those of the whole run, ramps included).
  Latency of an update = the
  wall-clock time its processing transaction committed (taken in the server process by the
  inbox's `on_committed` hook, right after the commit returned) minus the wall-clock time the
  load generator sent its request (both `time.time()` on the same machine). aiogram's latency is
  request sent -> webhook answer received.

The outbox dispatcher is stopped once the service has started: delivery is not part of this
measurement (bench/outbox.py measures it). The Bot API emulator (tests/support/botapi.py, in a
helper process) answers the service's start-up calls; laporbot answers a pressed button inside
the webhook response.

    .venv/bin/python -m bench.inbound                    # SQLite (+ PostgreSQL if configured)
    .venv/bin/python -m bench.inbound --url postgresql+asyncpg://u:p@127.0.0.1/empty_db
    .venv/bin/python -m bench.inbound --tiny             # a smoke run

PostgreSQL comes from `--url` or LAPORBOT_TEST_POSTGRES_URL; its database is wiped (downgrade to
base) before the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import multiprocessing
import os
import random
import socket
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

WEBHOOK_PATH = "/hooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
CONNECTIONS = 40
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Lapor", "username": "LaporBenchBot"}

# (kind, value): the channel contract's English report transcript, with /start first.
SCRIPT: list[tuple[str, Any]] = [
    ("text", "/start"),
    ("text", "english"),
    ("button", "report"),
    ("button", "anak_jalanan"),
    ("button", "no"),
    ("button", "yes"),
    ("location", (-8.1335, 113.2246)),
    ("text", "Lumajang, Jawa Timur"),
    ("text", "Sukodono"),
    ("text", "12"),
    ("button", "male"),
    ("text", "begging at the traffic light every night"),
    ("button", "_skip"),
    ("button", "yes"),
    ("button", "confirm"),
]


# -- updates --------------------------------------------------------------------------------


def _update(update_id: int, user_id: int, step: int, kind: str, value: Any) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": "Warga", "language_code": "id"}
    chat = {"id": user_id, "type": "private", "first_name": "Warga"}
    now = int(time.time())
    if kind == "button":
        shown = {"message_id": 2 * step, "from": BOT_USER, "chat": chat, "date": now, "text": "?"}
        query = {
            "id": f"{user_id}{step:04d}",
            "from": user,
            "message": shown,
            "chat_instance": str(user_id * 7919),
            "data": value,
        }
        return {"update_id": update_id, "callback_query": query}
    message: dict[str, Any] = {
        "message_id": 2 * step + 1,
        "from": user,
        "chat": chat,
        "date": now,
    }
    if kind == "location":
        message["location"] = {"latitude": value[0], "longitude": value[1]}
    else:
        message["text"] = value
        if value.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(value)}]
    return {"update_id": update_id, "message": message}


def conversations(first_user: int, users: int, first_update: int) -> list[list[dict[str, Any]]]:
    """One list of updates per citizen, update ids unique over the whole list."""
    result = []
    update_id = first_update
    for index in range(users):
        user_id = first_user + index
        updates = []
        for step, (kind, value) in enumerate(SCRIPT):
            updates.append(_update(update_id, user_id, step, kind, value))
            update_id += 1
        result.append(updates)
    return result


# -- the load generator (its own process) ------------------------------------------------------


def _loadgen_main(
    conn: Connection, url: str, secret: str, mode: str, rate: float, plan: bytes
) -> None:
    result = asyncio.run(_loadgen(url, secret, mode, rate, json.loads(plan)))
    conn.send(result)
    conn.close()


async def _loadgen(
    url: str, secret: str, mode: str, rate: float, plan: list[list[dict[str, Any]]]
) -> dict[str, Any]:
    import aiohttp

    sent: dict[int, float] = {}
    acked: dict[int, float] = {}
    errors: list[str] = []
    headers = {SECRET_HEADER: secret, "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=CONNECTIONS if mode == "closed" else 0)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def post(update: dict[str, Any]) -> None:
            body = json.dumps(update).encode()
            update_id = update["update_id"]
            sent[update_id] = time.time()
            try:
                async with http.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        errors.append(f"{update_id}: HTTP {response.status}")
            except aiohttp.ClientError as exc:
                errors.append(f"{update_id}: {exc!r}")
            acked[update_id] = time.time()

        if mode == "closed":
            queue = list(reversed(plan))

            async def citizen_worker() -> None:
                while queue:
                    for update in queue.pop():
                        await post(update)

            await asyncio.gather(*(citizen_worker() for _ in range(CONNECTIONS)))
        else:
            # Open loop: each request at its moment in `open_schedule`, whatever the answers;
            # a citizen's next update still waits for the previous one's answer (Telegram's
            # order).
            last: dict[int, asyncio.Task[None]] = {}
            tasks = []
            loop = asyncio.get_running_loop()
            start = loop.time()
            for offset, update in open_schedule(plan, rate).moments:
                delay = start + offset - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                user = _user_of(update)
                previous = last.get(user)
                task = asyncio.create_task(_after(previous, post(update)))
                last[user] = task
                tasks.append(task)
            await asyncio.gather(*tasks)
    return {"sent": sent, "acked": acked, "errors": errors}


@dataclass(frozen=True)
class Schedule:
    """When the open loop sends each update, and which updates it measures."""

    moments: list[tuple[float, dict[str, Any]]]  # (seconds from the start, update), in order
    steady: tuple[float, float]  # the window (seconds) in which the load is steady


def open_schedule(plan: list[list[dict[str, Any]]], rate: float, seed: int = 7) -> Schedule:
    """The open loop: citizens arrive at random moments (seeded, uniform over a span `W`)
    and answer their steps at an even pace, each conversation taking `W / 2`, as people
    arriving one after another do. Once the first arrivals are half way (`W / 2`) and until
    the last one arrives (`W`), the number of conversations under way is steady, and so is
    the mix of steps (menu presses, typed answers, confirmations that open a case, each
    1 in 15) and the rate: `rate` updates per second. Latency is measured on the updates
    sent in that window; the ramp before and after it carries a lighter load."""
    rng = random.Random(seed)
    span = len(plan) * len(SCRIPT) / rate  # W: arrivals over it give `rate` when steady
    pace = span / 2 / (len(SCRIPT) - 1)
    moments = []
    for citizen in plan:
        start = rng.uniform(0, span)
        moments.extend((start + step * pace, update) for step, update in enumerate(citizen))
    moments.sort(key=lambda pair: pair[0])
    return Schedule(moments, (span / 2, span))


async def _after(previous: asyncio.Task[None] | None, work: Any) -> None:
    if previous is not None and not previous.done():
        await previous
    await work


def _user_of(update: dict[str, Any]) -> int:
    inner = update.get("message") or update["callback_query"]
    return int(inner["from"]["id"])


def _drive(url: str, secret: str, mode: str, rate: float, plan: bytes) -> dict[str, Any]:
    """Run the load generator process to the end; blocking (call in a thread)."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_loadgen_main, args=(child, url, secret, mode, rate, plan))
    process.start()
    child.close()
    result: dict[str, Any] = parent.recv()
    process.join()
    return result


# -- the Bot API emulator (a helper process) ---------------------------------------------------


def _emulator_main(conn: Connection) -> None:
    async def serve() -> None:
        from tests.support.botapi import BotApiEmulator, FloodLimits, Limit

        loose = Limit(1_000_000, 1.0)
        api = BotApiEmulator(limits=FloodLimits(bot=loose, private_chat=loose, group=loose))
        await api.start()
        conn.send((api.url, api.token))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)  # until told to stop
        await api.stop()

    asyncio.run(serve())


@contextlib.contextmanager
def _emulator() -> Any:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_emulator_main, args=(child,), daemon=True)
    process.start()
    try:
        yield parent.recv()
    finally:
        with contextlib.suppress(OSError):
            parent.send("stop")
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


# -- the servers ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _aiogram_server(port: int, token: str, secret: str) -> Callable[[], Any]:
    from aiogram import Bot, Dispatcher
    from aiogram.methods import SendMessage
    from aiogram.types import CallbackQuery, Message
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler
    from aiohttp import web

    bot = Bot(token)
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> SendMessage:
        return SendMessage(chat_id=message.chat.id, text=message.text or "ok")

    @dispatcher.callback_query()
    async def echo_button(query: CallbackQuery) -> SendMessage:
        return SendMessage(chat_id=query.from_user.id, text=query.data or "ok")

    app = web.Application()
    SimpleRequestHandler(
        dispatcher=dispatcher, bot=bot, handle_in_background=False, secret_token=secret
    ).register(app, path=WEBHOOK_PATH)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()

    async def close() -> None:
        await runner.cleanup()
        await bot.session.close()

    return close


async def _wipe_postgres(url: str) -> None:
    from laporbot.db.engine import create_engine_for_url
    from laporbot.db.migrate import downgrade_engine

    engine = create_engine_for_url(url)
    try:
        await downgrade_engine(engine, "base")
    finally:
        await engine.dispose()


class _Laporbot:
    """A started `Service` with the Telegram webhook on a loopback port, sending stopped."""

    def __init__(self, database_url: str | None, api: tuple[str, str], folder: Path) -> None:
        self.database_url = database_url
        self.api_url, self.token = api
        self.folder = folder
        self.committed: dict[int, float] = {}
        self.port = _free_port()
        self.service: Any = None
        self.secret = ""

    async def start(self) -> None:
        from laporbot.channels.telegram.webhook import webhook_secret
        from laporbot.serve import Service
        from laporbot.settings import Settings

        if self.database_url is not None:
            await _wipe_postgres(self.database_url)
        settings = Settings(
            data_dir=self.folder,
            database_url=self.database_url,
            http_port=self.port,
            telegram_token=self.token,
            telegram_api_url=self.api_url,
            telegram_webhook_url=f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}",
            sweep_interval_seconds=3600,
        )
        self.secret = webhook_secret(settings)
        self.service = Service(settings)
        await self.service.start()
        self.service.freeze_heap()  # as `laporbot serve` does once started
        self.service.dispatcher.stop()  # delivery is measured elsewhere
        self.service.inbox.on_committed = self._record

    def _record(self, items: Sequence[Any]) -> None:
        at = time.time()
        for item in items:
            self.committed[int(item.platform_id)] = at

    async def done(self, update_ids: Sequence[int], within: float) -> None:
        deadline = time.monotonic() + within
        while any(u not in self.committed for u in update_ids):
            if time.monotonic() > deadline:
                missing = sum(1 for u in update_ids if u not in self.committed)
                raise RuntimeError(f"{missing} updates not processed within {within} s")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        await self.service.stop()


# -- measuring ------------------------------------------------------------------------------


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _latency_summary(latencies: Sequence[float]) -> dict[str, float]:
    ms = [1000 * value for value in latencies]
    return {
        "p50_ms": _percentile(ms, 0.50),
        "p95_ms": _percentile(ms, 0.95),
        "p99_ms": _percentile(ms, 0.99),
        "max_ms": max(ms, default=float("nan")),
        "mean_ms": statistics.fmean(ms) if ms else float("nan"),
    }


class _Ids:
    """Fresh citizens and update ids for every phase (the inbox drops a repeated update id)."""

    def __init__(self) -> None:
        self.user = 10_000_000
        self.update = 1

    def plan(self, users: int) -> list[list[dict[str, Any]]]:
        plan = conversations(self.user, users, self.update)
        self.user += users
        self.update += users * len(SCRIPT)
        return plan


def _ids(plan: list[list[dict[str, Any]]]) -> list[int]:
    return [update["update_id"] for citizen in plan for update in citizen]


class _ProcessCost:
    """The CPU time of this process (the server under test: the load generator and the Bot
    API emulator have processes of their own) and its garbage collections, over a phase.

    CPU per update moves far less with this machine's neighbours than the latencies do, so it
    is the figure to compare two commits by; the collections show whether the collector's
    pauses sit in the tail."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._began = 0.0
        self._cpu = 0.0

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._began)

    def __enter__(self) -> _ProcessCost:
        self._cpu = time.process_time()
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._on_gc)
        self._cpu = time.process_time() - self._cpu

    def figures(self, updates: int, seconds: float) -> dict[str, float]:
        return {
            "cpu_ms_per_update": 1000 * self._cpu / updates if updates else float("nan"),
            "cpu_cores": self._cpu / seconds if seconds > 0 else float("nan"),
            "gc_collections": len(self.pauses),
            "gc_ms_total": 1000 * sum(self.pauses),
            "gc_ms_max": 1000 * max(self.pauses, default=0.0),
        }


async def _phase(
    target_url: str,
    secret: str,
    mode: str,
    rate: float,
    plan: list[list[dict[str, Any]]],
    server: _Laporbot | None,
) -> dict[str, Any]:
    ids = _ids(plan)
    steady: list[int] = []
    if mode == "open":
        # The steady window: the updates scheduled in it.
        schedule = open_schedule(plan, rate)
        begin, end = schedule.steady
        steady = [u["update_id"] for at, u in schedule.moments if begin <= at < end] or ids
        del schedule
    # The load generator's updates go to it as JSON, not kept here as dicts: tens of
    # thousands of them would sit in the server's oldest GC generation, and every full
    # collection would scan them (5 ms each at 400 citizens), a cost no real server has.
    encoded = json.dumps(plan).encode()
    del plan
    with _ProcessCost() as cost:
        loaded = await asyncio.to_thread(_drive, target_url, secret, mode, rate, encoded)
        if server is not None:
            await server.done(ids, within=120)
    if loaded["errors"]:
        raise RuntimeError(f"{len(loaded['errors'])} failed requests, first: {loaded['errors'][0]}")
    sent, acked = loaded["sent"], loaded["acked"]
    if server is not None:
        finished = {u: server.committed[u] for u in ids}
    else:
        finished = {u: acked[u] for u in ids}
    first = min(sent[u] for u in ids)
    last = max(finished[u] for u in ids)
    figures = {
        "updates": len(ids),
        "seconds": last - first,
        "per_second": len(ids) / (last - first),
        "latencies": [finished[u] - sent[u] for u in ids],
        "ack_latencies": [acked[u] - sent[u] for u in ids],
        "cost": cost.figures(len(ids), last - first),
    }
    if mode == "open":
        # The steady window's updates, and the rate they were sent at.
        window = max(sent[u] for u in steady) - min(sent[u] for u in steady)
        figures |= {
            "all_latencies": figures["latencies"],
            "latencies": [finished[u] - sent[u] for u in steady],
            "ack_latencies": [acked[u] - sent[u] for u in steady],
            "updates": len(steady),
            "per_second": len(steady) / window if window > 0 else 0.0,
        }
    return figures


async def _measure(
    start_server: Callable[[], Any],
    stop_server: Callable[[], Any],
    url: str,
    secret_of: Callable[[], str],
    server: _Laporbot | None,
    ids: _Ids,
    throughput_users: int,
    latency_users: int,
    rate: float,
) -> dict[str, Any]:
    await start_server()
    try:
        secret = secret_of()
        await _phase(url, secret, "closed", rate, ids.plan(3), server)  # warm-up
        throughput = await _phase(url, secret, "closed", rate, ids.plan(throughput_users), server)
        latency = await _phase(url, secret, "open", rate, ids.plan(latency_users), server)
    finally:
        await stop_server()
    return {
        "throughput_per_s": throughput["per_second"],
        "throughput_updates": throughput["updates"],
        "rate_per_s": rate,
        "rate_achieved_per_s": latency["per_second"],
        "latency_updates": latency["updates"],
        **_latency_summary(latency["latencies"]),
        "ack": _latency_summary(latency["ack_latencies"]),
        "all": _latency_summary(latency["all_latencies"]),
        "closed_cost": throughput["cost"],
        "open_cost": latency["cost"],
    }


async def _run(tiny: bool, postgres_url: str | None, rate: float, seconds: float) -> dict[str, Any]:
    throughput_users = 4 if tiny else 80
    latency_updates = max(len(SCRIPT), int(rate * (2 if tiny else seconds)))
    latency_users = max(1, latency_updates // len(SCRIPT))
    ids = _Ids()
    results: dict[str, Any] = {}
    with _emulator() as api, tempfile.TemporaryDirectory(prefix="laporbot-bench-") as tmp:
        port = _free_port()
        url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
        secret = "bench-secret"
        closers: list[Callable[[], Any]] = []

        async def start_aiogram() -> None:
            closers.append(await _aiogram_server(port, api[1], secret))

        async def stop_aiogram() -> None:
            await closers.pop()()

        results["aiogram"] = await _measure(
            start_aiogram,
            stop_aiogram,
            url,
            lambda: secret,
            None,
            ids,
            throughput_users,
            latency_users,
            rate,
        )
        backends: list[tuple[str, str | None]] = [("sqlite", None)]
        if postgres_url:
            backends.append(("postgresql", postgres_url))
        for name, database_url in backends:
            server = _Laporbot(database_url, api, Path(tmp) / name)
            webhook = f"http://127.0.0.1:{server.port}{WEBHOOK_PATH}"
            figures = await _measure(
                server.start,
                server.stop,
                webhook,
                lambda s=server: s.secret,
                server,
                ids,
                throughput_users,
                latency_users,
                rate,
            )
            figures["ratio_to_aiogram"] = (
                figures["throughput_per_s"] / results["aiogram"]["throughput_per_s"]
            )
            results[name] = figures
    return results


def run(
    *,
    tiny: bool = False,
    postgres_url: str | None = None,
    rate: float = 500.0,
    seconds: float = 12.0,
) -> dict[str, Any]:
    """Measure the bare aiogram baseline and laporbot on SQLite (and PostgreSQL when
    `postgres_url`, else LAPORBOT_TEST_POSTGRES_URL, is set); returns the figures by name."""
    postgres_url = postgres_url or os.environ.get("LAPORBOT_TEST_POSTGRES_URL") or None
    return asyncio.run(_run(tiny, postgres_url, rate, seconds))


def table(results: dict[str, Any]) -> str:
    """The figures as a text table beside the targets."""
    lines = [
        f"{'':12} {'updates/s':>10} {'ratio':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
        f" {'at /s':>7} {'cpu ms/upd':>11} {'cores':>6} {'gc ms':>13}"
    ]
    for name in ("aiogram", "sqlite", "postgresql"):
        if name not in results:
            continue
        r = results[name]
        ratio = f"{r['ratio_to_aiogram']:6.2f}" if "ratio_to_aiogram" in r else f"{'':>6}"
        cost = r["open_cost"]
        gc_ms = f"{cost['gc_ms_total']:.0f} (max {cost['gc_ms_max']:.1f})"
        lines.append(
            f"{name:12} {r['throughput_per_s']:10.0f} {ratio}"
            f" {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['p99_ms']:8.1f}"
            f" {r['rate_achieved_per_s']:7.0f} {cost['cpu_ms_per_update']:11.2f}"
            f" {cost['cpu_cores']:6.2f} {gc_ms:>13}"
        )
    lines.append("targets: ratio >= 0.50; p99 < 20 ms (request sent -> outbox committed)")
    lines.append(
        "cpu ms/upd, cores, gc ms: the server's process over the open loop (ramps included)"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a smoke run")
    parser.add_argument("--url", help="PostgreSQL URL (its database is wiped)")
    parser.add_argument("--rate", type=float, default=500.0, help="open-loop rate, updates/s")
    parser.add_argument(
        "--seconds", type=float, default=12.0, help="open loop: updates = rate x seconds"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results = run(tiny=args.tiny, postgres_url=args.url, rate=args.rate, seconds=args.seconds)
    print(json.dumps(results, indent=2) if args.json else table(results))


if __name__ == "__main__":
    main()
