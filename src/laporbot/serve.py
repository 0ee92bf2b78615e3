"""`laporbot serve` as an object: everything one process runs, built from `Settings` (+ `Clock`).

    service = Service(settings)          # nothing started yet
    await service.start()                # migrate, load data, open the port, start the loops
    ...                                  # service.url is where the web chat is
    await service.stop()                 # stop taking work, finish what is in flight

One process runs: the aiohttp server (webhooks, web chat, health check) on
`http_host:http_port`; the Telegram poller when a token is set and no webhook URL (else the
webhook is registered), connecting in the background (see below); the inbox processor; the
outbox dispatcher (one loop, every channel, each with its own pacer); and an APScheduler
`AsyncIOScheduler` that only ticks sweeps. With no tokens at all only the web chat runs, which
is enough for the whole citizen flow.

Telegram never holds the rest back: when its Bot API cannot be reached (network down, API
outage) the service starts anyway and keeps trying in the background with backoff
(`telegram_backoff`), one log line per failed attempt. Until it answers, `telegram_state` (and
`/healthz`) says `"connecting"` and the outbox leaves Telegram's rows waiting, unclaimed, without
spending their attempts; then it says `"up"`, polling (or the webhook) starts and the waiting
rows go out.

A periodic sweep is one line in `SWEEPS` (or `service.add_sweep(...)` before `start`): a name
and a factory that, given the service, returns the coroutine function to call on every tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from laporbot.channels.base import RawUpdate, SendResult
from laporbot.channels.web import WebChatAdapter
from laporbot.clock import Clock, SystemClock
from laporbot.db import agencies as agency_rows
from laporbot.db import migrate
from laporbot.db.checkpoint import WalCheckpointer
from laporbot.db.engine import create_engine, make_sessionmaker, sqlite_file
from laporbot.i18n import Translator
from laporbot.inbox import InboxProcessor, StatusHook
from laporbot.intake import Intake, Outcome
from laporbot.messages import Channel, InboundMessage, OutboundMessage
from laporbot.officers import OfficerDesk
from laporbot.outbox import ChannelSender, Dispatcher
from laporbot.ratelimit import ChannelPacer, telegram_pacer, unlimited_pacer, whatsapp_pacer
from laporbot.settings import Settings
from laporbot.web.app import WebDeps, build_app
from laporbot.workcalendar import indonesian_holidays_of

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 20.0
TELEGRAM_BACKOFF_CAP_SECONDS = 60.0

Tick = Callable[[], Awaitable[object]]
SweepFactory = Callable[["Service"], Tick]


def telegram_backoff(failures: int) -> float:
    """Seconds before the next attempt to reach Telegram after `failures` failed ones in a
    row: 1, 2, 4 ... at most a minute."""
    from laporbot.channels.telegram.polling import default_backoff

    return default_backoff(failures, cap=TELEGRAM_BACKOFF_CAP_SECONDS)


@dataclass(frozen=True)
class Sweep:
    """A periodic job: `make(service)` gives the coroutine function called every `seconds`
    (default `settings.sweep_interval_seconds`). Sweeps read what is due from the database."""

    name: str
    make: SweepFactory
    seconds: float | None = None


def session_timeouts(service: Service) -> Tick:
    """Nudge idle conversations and expire lapsed ones (the engine's `handle_timeouts`)."""

    async def tick() -> None:
        async with service.sessions() as db, db.begin():
            queued = await service.intake.handle_timeouts(db, service.clock.now())
        if queued:
            service.dispatcher.wake()

    return tick


def reminders(service: Service) -> Tick:
    """Send due reminders and the daily digest (`laporbot.reminders.jobs`)."""
    from laporbot.reminders.jobs import ReminderJobs

    jobs = ReminderJobs.build(
        service.sessions,
        service.intake.registry,
        service.translator,
        service.settings,
        service.clock,
        worker=service.worker,
    )

    async def tick() -> None:
        await jobs.safe_tick()
        service.dispatcher.wake()

    return tick


def retention(service: Service) -> Tick:
    """Remove the personal data and the traffic the retention settings no longer allow
    (`laporbot.dataprotection.purge_all`)."""
    from laporbot import dataprotection

    async def tick() -> None:
        done = await dataprotection.purge_all(
            service.sessions, service.settings, service.clock.now()
        )
        if done.cases or done.complaints or done.erasure.contacts:
            log.info(
                "retention: personal data removed from %d cases, %d complaints, %d contacts",
                len(done.cases),
                len(done.complaints),
                done.erasure.contacts,
            )

    return tick


SWEEPS: list[Sweep] = [
    Sweep("session_timeouts", session_timeouts),
    Sweep("reminders", reminders),
    Sweep("retention", retention, seconds=3600),
]


class _PrintedAdapter:
    """The terminal chat (`laporbot chat`) shows its replies itself; a row it left in the
    outbox has nothing more to deliver."""

    channel: Channel = "terminal"

    def split(self, body: dict[str, Any]) -> list[RawUpdate]:
        return []

    def translate(self, update: RawUpdate) -> list[InboundMessage]:
        return []

    async def send(self, message: OutboundMessage) -> SendResult:
        return SendResult(platform_message_ids=())


def freeze_startup_heap() -> None:
    """Move every object made so far out of the garbage collector's reach (`gc.freeze`).

    Call once a serving process has started: its modules, the libraries' schemas, the
    standards and flows live as long as the process. A full collection then scans only what
    serving made: measured on the inbound benchmark, 7 ms instead of 150 ms, a pause in which
    no webhook is answered."""
    gc.freeze()


class Service:
    """Everything `laporbot serve` runs, in one process; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        *,
        pacers: Mapping[str, ChannelPacer] | None = None,
    ) -> None:
        """`pacers` replaces a channel's platform limits (tests and benchmarks against fakes
        with their own limits); production uses the platforms' documented ones."""
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self._pacers = dict(pacers or {})
        self._whatsapp: Any = None
        self.worker = f"serve-{uuid.uuid4().hex[:8]}"
        self._sweeps: list[Sweep] = list(SWEEPS)
        self._tasks: list[asyncio.Task[Any]] = []
        self._warm: asyncio.Task[None] | None = None
        self._ticks: set[asyncio.Task[Any]] = set()
        self._stop_event = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._checkpointer: WalCheckpointer | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._engine: AsyncEngine | None = None
        self._telegram: Any = None
        self._telegram_sender: ChannelSender | None = None
        #: "off" (no token), "connecting" (the Bot API has not answered yet) or "up".
        self.telegram_state = "off"
        #: Seconds to wait after n failed attempts to reach Telegram (tests shorten it).
        self.telegram_backoff: Callable[[int], float] = telegram_backoff
        self.url = ""
        self.port = 0
        self.web = WebChatAdapter()

    # parts built in start(); typed here for users of a started service
    sessions: async_sessionmaker[AsyncSession]
    translator: Translator
    intake: Intake
    officers: OfficerDesk
    inbox: InboxProcessor
    dispatcher: Dispatcher

    async def _handle_inbound(
        self, db: AsyncSession, inbound: InboundMessage, now: datetime
    ) -> object:
        """Officers' messages and buttons first; everything else is a citizen's."""
        if await self.officers.handle_officer_inbound(db, inbound, now):
            return None
        return await self.intake.handle_inbound(db, inbound, now)

    async def _handle_batch(
        self,
        db: AsyncSession,
        inbounds: Sequence[InboundMessage],
        now: datetime,
        *,
        isolate: bool = True,
    ) -> list[Outcome]:
        """Citizens' messages of a batch together; the officer side's are left to
        `_handle_inbound`, one by one."""
        return await self.intake.handle_batch(
            db, inbounds, now, officer_side=self.officers, isolate=isolate
        )

    def add_sweep(self, name: str, make: SweepFactory, seconds: float | None = None) -> None:
        """Register one more periodic sweep (before `start`)."""
        self._sweeps.append(Sweep(name, make, seconds))

    async def start(self) -> None:
        """Migrate, load data, open the HTTP port and start every loop. On failure (a broken
        data file, the port taken) whatever was started is stopped again before raising."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        settings = self.settings
        await migrate.upgrade(settings)
        self._engine = create_engine(settings, background_checkpoints=True)
        self.sessions = make_sessionmaker(self._engine)
        database = sqlite_file(self._engine)
        if database is not None:
            # Log checkpoints off the commit path (db.checkpoint).
            self._checkpointer = WalCheckpointer(database)
            self._spawn(self._checkpointer.run(), "checkpoints")
        self.translator = Translator(settings.locales_dir, settings.default_locale)
        self.intake = Intake.from_settings(settings)
        # The officer side: triage posts when a case opens, handlers told of complaints, and
        # officers' messages taken before the citizen flows see them.
        self.officers = OfficerDesk.from_settings(
            settings, registry=self.intake.registry, reminders=self.intake.reminders
        )
        self.intake.case_hooks.append(self.officers.on_case_opened)
        self.intake.complaint_hooks.append(self.officers.on_complaint_filed)
        await self._sync_agencies()

        senders: dict[str, ChannelSender] = {
            "web": ChannelSender(self.web, unlimited_pacer(self.clock), on_sent=self.web.notify),
            "terminal": ChannelSender(_PrintedAdapter(), unlimited_pacer(self.clock)),
        }
        translators: dict[str, Any] = {"web": self.web}
        if settings.telegram_token is not None:
            from laporbot.channels.telegram import make_telegram_adapter

            self._telegram = make_telegram_adapter(settings, clock=self.clock)
            pacer = self._pacers.get("telegram") or telegram_pacer(self.clock)
            # Given to the dispatcher once the Bot API answers (`_connect_telegram`).
            self._telegram_sender = ChannelSender(self._telegram, pacer)
            translators["telegram"] = self._telegram
            self.telegram_state = "connecting"
        whatsapp = self._whatsapp_sender()
        if whatsapp is not None:
            senders["whatsapp"] = whatsapp
            translators["whatsapp"] = whatsapp.adapter

        self.dispatcher = Dispatcher(
            self.sessions,
            self.clock,
            senders,
            max_attempts=settings.outbox_max_attempts,
            worker=f"{self.worker}-outbox",
        )
        postgres = self._engine.dialect.name == "postgresql"
        self.inbox = InboxProcessor(
            self.sessions,
            self.clock,
            translators,
            self._handle_inbound,
            worker=f"{self.worker}-inbox",
            on_processed=self.dispatcher.wake,
            status_hooks=self._status_hooks(whatsapp),
            handle_batch=self._handle_batch,
            process_on_accept=True,
            groups_in_flight=settings.postgres_inbox_groups if postgres else 1,
            # SQLite reads in process: nothing to read along with the insert.
            first_read=partial(self.intake.first_read_ask, officer_side=self.officers)
            if postgres
            else None,
        )
        await self._start_http(whatsapp)
        self._spawn(self.inbox.run(), "inbox")
        self._spawn(self.dispatcher.run(), "outbox")
        if self._telegram is not None:
            self._spawn(self._connect_telegram(), "telegram")
        self._start_scheduler()
        self._warm = self._spawn(asyncio.to_thread(self._warm_up), "warm-up")
        log.info("laporbot is serving; web chat at %s", self.url)

    async def stop(self) -> None:
        """Stop taking new work, let in-flight work finish (bounded), release everything."""
        self._stop_event.set()
        self._warm = None
        if self._scheduler is not None:
            # No new ticks; a tick already running finishes its transaction (APScheduler's
            # shutdown would cancel it mid-way).
            self._scheduler.pause()
            if self._ticks:
                await asyncio.wait(self._ticks, timeout=SHUTDOWN_GRACE_SECONDS)
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        self.web.close()  # long polls answer now instead of holding the shutdown
        if self._runner is not None:
            # Stops accepting connections; requests in flight get the grace period to finish.
            await self._runner.cleanup()
            self._runner = None
        if hasattr(self, "inbox"):
            self.inbox.stop()
        if hasattr(self, "dispatcher"):
            self.dispatcher.stop()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=SHUTDOWN_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks.clear()
        if self._telegram is not None:
            await self._telegram.close()
            self._telegram = None
        if self._whatsapp is not None:
            await self._whatsapp.close()
            self._whatsapp = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def run_until_signalled(self) -> None:
        """Start, serve until SIGTERM or SIGINT, then stop cleanly."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        await self.start()
        self.freeze_heap()
        try:
            await stop.wait()
            log.info("laporbot: stopping, finishing work in flight")
        finally:
            await self.stop()

    # -- parts ------------------------------------------------------------------------------

    def _warm_up(self) -> None:
        """What the first report would otherwise load, done in a thread once serving: the
        holiday tables of this year and the next (every deadline falls in them; ~0.3 s), and
        Babel's locale data for each catalog language (a due time and a time left worded)."""
        now = self.clock.now()
        indonesian_holidays_of((now.year, now.year + 1))
        for locale in self.translator.locales:
            self.translator.due(locale, now, "Asia/Jakarta")
            self.translator.relative(locale, timedelta(hours=2))

    def freeze_heap(self) -> None:
        """Freeze the heap of a started service (`freeze_startup_heap`), now and again once
        the warm-up in the background (`_warm_up`) is done.

        The `holidays` package imports the modules of every country it knows (319 modules,
        some 30,000 objects) and Babel's locale data is some 20,000 more, all living as long
        as the process. Frozen only at start they stayed in the collector's oldest
        generation, and each full collection, every few seconds under load, scanned them: 17
        to 30 ms with no webhook answered (bench/inbound.py at 500 updates/s); frozen too,
        about 1 ms. Before the second freeze a full collection (a few ms, the start-up heap
        being frozen already) frees the garbage cycles made so far, which would otherwise stay
        for good; the objects of the requests in flight at that moment are frozen too, and
        freed as always once unreferenced (only a cycle among them would stay)."""
        freeze_startup_heap()
        warm = self._warm
        if warm is None:  # not started
            return

        async def once_warm() -> None:
            await asyncio.wait([warm])
            gc.collect()
            freeze_startup_heap()

        self._spawn(once_warm(), "freeze")

    def _spawn(self, work: Awaitable[Any], name: str) -> asyncio.Task[None]:
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("laporbot: %s task failed", name)

        task = asyncio.create_task(guarded(), name=name)
        self._tasks.append(task)
        return task

    async def _sync_agencies(self) -> None:
        agencies = [(a.code, a.name, a.time_zone) for a in self.intake.registry.agencies]
        async with self.sessions() as db, db.begin():
            await agency_rows.sync_agencies(db, agencies)
        self.intake.agencies_stored(code for code, _, _ in agencies)

    def _whatsapp_sender(self) -> ChannelSender | None:
        settings = self.settings
        if settings.whatsapp_access_token is None or settings.whatsapp_phone_number_id is None:
            return None
        from laporbot.channels.whatsapp import (
            make_prepare_outbound,
            make_whatsapp_adapter,
            make_window_fallback,
        )

        adapter = make_whatsapp_adapter(settings, clock=self.clock)
        self._whatsapp = adapter
        pacer = self._pacers.get("whatsapp") or whatsapp_pacer(
            self.clock, settings.whatsapp_messages_per_second
        )
        # Outside the 24-hour window a free-form message becomes the follow-up template; one
        # Meta refuses as outside it (131047) goes once more as that template.
        return ChannelSender(
            adapter,
            pacer,
            prepare=make_prepare_outbound(settings),
            fallback=make_window_fallback(settings),
        )

    def _status_hooks(self, whatsapp: ChannelSender | None) -> dict[str, StatusHook]:
        """Delivery news the inbox records on the outbox: WhatsApp's `failed` statuses."""
        if whatsapp is None:
            return {}
        from laporbot.channels.whatsapp import make_status_hook

        return {"whatsapp": make_status_hook(self.settings)}

    async def _start_http(self, whatsapp: ChannelSender | None) -> None:
        telegram_secret: str | None = None
        if self._telegram is not None and self.settings.telegram_webhook_url:
            from laporbot.channels.telegram.webhook import webhook_secret

            telegram_secret = webhook_secret(self.settings)
        deps = WebDeps(
            settings=self.settings,
            clock=self.clock,
            sessions=self.sessions,
            translator=self.translator,
            inbox=self.inbox,
            web=self.web,
            telegram=self._telegram,
            telegram_secret=telegram_secret,
            whatsapp=whatsapp.adapter if whatsapp is not None else None,
            channel_states=self._channel_states if self._telegram is not None else None,
        )
        self._runner = web.AppRunner(
            build_app(deps), shutdown_timeout=SHUTDOWN_GRACE_SECONDS, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.http_host, self.settings.http_port)
        await site.start()
        self.port = _bound_port(self._runner, self.settings.http_port)
        host = self.settings.http_host
        shown = f"[{host}]" if ":" in host else host
        self.url = (self.settings.public_url or f"http://{shown}:{self.port}").rstrip("/") + "/"

    def _channel_states(self) -> dict[str, str]:
        return {"telegram": self.telegram_state}

    async def _connect_telegram(self) -> None:
        """Reach the Bot API (getMe), hand Telegram's sender to the outbox, then receive
        updates until stopped; every failure before that waits `telegram_backoff` and tries
        again, logged in one line (the reason, no traceback: an outage is not a bug)."""
        from laporbot.channels.base import RetryAfter, SendError
        from laporbot.channels.telegram.polling import STOPPED, until_stopped, wait_or_stop
        from laporbot.channels.telegram.receive import receive_updates

        async def on_update(update: RawUpdate) -> None:
            fresh = await self.inbox.accept([update])
            self._after_accept([update], fresh)

        failures = 0
        while not self._stop_event.is_set():
            try:
                if self.telegram_state != "up":
                    if await until_stopped(self._telegram.start(), self._stop_event) is STOPPED:
                        return
                    self._telegram_up()
                    failures = 0
                await receive_updates(
                    self._telegram, self.settings, on_update, stop_event=self._stop_event
                )
                return
            except RetryAfter as exc:
                wait = exc.seconds
                log.warning("telegram: flood control, trying again in %.0f s", wait)
            except SendError as exc:
                failures += 1
                wait = self.telegram_backoff(failures)
                log.warning(
                    "telegram: the Bot API did not answer (attempt %d): %s; trying again in %.1f s",
                    failures,
                    exc.reason,
                    wait,
                )
            await wait_or_stop(self._stop_event, wait)

    def _telegram_up(self) -> None:
        self.telegram_state = "up"
        log.info("telegram: connected")
        if self._telegram_sender is not None:
            self.dispatcher.add_sender("telegram", self._telegram_sender)

    def _after_accept(self, updates: Sequence[RawUpdate], fresh: Sequence[bool]) -> None:
        """Polling: stop the spinner on a pressed Telegram button once its update is stored,
        with an answerCallbackQuery request. (The webhook route answers it in its response
        instead: Telegram makes the call, see `laporbot.channels.telegram.webhook`.)"""
        if self._telegram is None:
            return
        for update, new in zip(updates, fresh, strict=True):
            if new and update.channel == "telegram" and "callback_query" in update.payload:
                task = asyncio.create_task(self._answer_callback(update))
                self._tasks.append(task)
                task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)

    async def _answer_callback(self, update: RawUpdate) -> None:
        try:
            await self._telegram.answer_callback(update)
        except Exception as exc:  # best effort: the spinner stops by itself after a while
            log.info("telegram answerCallbackQuery failed: %s", exc)

    def _guarded_tick(self, name: str, tick: Tick) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            if self._stop_event.is_set():
                return
            current = asyncio.current_task()
            if current is not None:
                self._ticks.add(current)
            try:
                await tick()
            except Exception:
                log.exception("sweep %s failed; the next tick tries again", name)
            finally:
                if current is not None:
                    self._ticks.discard(current)

        run.__name__ = f"sweep_{name}"
        return run

    def _start_scheduler(self) -> None:
        scheduler = AsyncIOScheduler(timezone="UTC")
        for sweep in self._sweeps:
            tick = sweep.make(self)
            scheduler.add_job(
                self._guarded_tick(sweep.name, tick),
                "interval",
                seconds=sweep.seconds or self.settings.sweep_interval_seconds,
                id=sweep.name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                next_run_time=self.clock.now(),  # first tick at once
            )
        scheduler.start()
        self._scheduler = scheduler


def _bound_port(runner: web.AppRunner, asked: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return asked
