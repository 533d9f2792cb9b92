"""Telegram notifications and commands, through python-telegram-bot, off the trading loop.

The notifier runs its own asyncio loop in a background thread. ``send`` only puts a message
on a bounded queue and returns at once (when the queue is full, the oldest message is dropped),
so a down or slow Telegram never blocks or stops trading. Failed sends are counted and logged.

Commands are read by long-polling ``getUpdates``. Only messages from the configured chat are
obeyed: ``/status``, ``/pause`` (no new entries), ``/resume``, and ``/stop`` (the kill switch:
flatten and halt). Each command is handed to the trading loop's thread, via the ``on_command``
callback the node provides, and its reply is sent back.

Token and chat id come from the environment (``AUTOBOT_TELEGRAM_TOKEN``,
``AUTOBOT_TELEGRAM_CHAT_ID``), never from YAML. ``AUTOBOT_TELEGRAM_BASE_URL`` points the bot at
another Bot API server: a self-hosted one, or the local test server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from typing import Callable

COMMANDS = ("/status", "/pause", "/resume", "/stop", "/challenge")
log = logging.getLogger("autobot.telegram")


class Notifier:
    """See the module docstring."""

    def __init__(self, token: str, chat_id: int | str, base_url: str | None = None,
                 on_command: Callable[[str], str] | None = None, poll: bool = True,
                 timeout: float = 5.0, capacity: int = 1000) -> None:
        self.token = token
        self.chat_id = str(chat_id)
        self.base_url = base_url
        self.on_command = on_command
        self.poll = poll
        self.timeout = timeout
        self.outbox: queue.Queue[str | None] = queue.Queue(maxsize=capacity)
        self.sent = 0
        self.failed = 0
        self._outage = 0                # failed sends since the last success
        self.dropped = 0
        self.commands: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="autobot-telegram", daemon=True)

    @staticmethod
    def from_env(on_command: Callable[[str], str] | None = None) -> "Notifier | None":
        """A notifier when ``AUTOBOT_TELEGRAM_TOKEN`` and ``AUTOBOT_TELEGRAM_CHAT_ID`` are set."""
        token, chat = os.environ.get("AUTOBOT_TELEGRAM_TOKEN"), os.environ.get("AUTOBOT_TELEGRAM_CHAT_ID")
        if not token or not chat:
            return None
        return Notifier(token, chat, os.environ.get("AUTOBOT_TELEGRAM_BASE_URL"), on_command)

    # ------------------------------------------------------------------ the trading side
    def start(self) -> "Notifier":
        self._thread.start()
        return self

    def send(self, text: str) -> None:
        """Queue a message; never blocks."""
        try:
            self.outbox.put_nowait(text[:4000])
        except queue.Full:
            try:
                self.outbox.get_nowait()
                self.dropped += 1
                self.outbox.put_nowait(text[:4000])
            except (queue.Empty, queue.Full):
                self.dropped += 1

    def close(self, flush_seconds: float = 2.0) -> None:
        """Stop, giving queued messages up to ``flush_seconds`` to go out."""
        self._stop.set()
        try:
            self.outbox.put_nowait(None)
        except queue.Full:
            pass
        self._thread.join(timeout=flush_seconds)

    # ------------------------------------------------------------------ the notifier's thread
    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        from telegram import Bot
        from telegram.request import HTTPXRequest

        kwargs = {"base_url": self.base_url} if self.base_url else {}
        request = HTTPXRequest(connect_timeout=self.timeout, read_timeout=self.timeout, write_timeout=self.timeout)
        polling = HTTPXRequest(connect_timeout=self.timeout, read_timeout=self.timeout + 10,
                               write_timeout=self.timeout)
        bot = Bot(self.token, request=request, get_updates_request=polling, **kwargs)
        tasks = [asyncio.create_task(self._sender(bot))]
        if self.poll and self.on_command is not None:
            tasks.append(asyncio.create_task(self._poller(bot)))
        await tasks[0]
        for task in tasks[1:]:
            task.cancel()
        await asyncio.gather(*tasks[1:], return_exceptions=True)

    async def _sender(self, bot: object) -> None:
        loop = asyncio.get_running_loop()
        while True:
            text = await loop.run_in_executor(None, self._next)
            if text is None:
                if self._stop.is_set() and self.outbox.empty():
                    return
                continue
            try:
                await bot.send_message(chat_id=self.chat_id, text=text)  # type: ignore[attr-defined]
                self.sent += 1
                if self._outage:
                    log.warning("telegram reachable again after %d failed send(s)", self._outage)
                    self._outage = 0
            except Exception as exc:   # Telegram being down must not matter to trading
                self.failed += 1
                self._outage += 1
                # one warning an outage (then one every 100 failures), not one a message
                if self._outage == 1 or self._outage % 100 == 0:
                    log.warning("telegram send failed (%d in a row; messages are dropped until it is back): %s",
                                self._outage, self.redact(exc))

    def redact(self, exc: BaseException) -> str:
        """An error for the log: its type and message with the bot token (which sits in every Bot API
        URL) removed, and cut short, so no reply body or URL leaks the token."""
        text = f"{type(exc).__name__}: {exc}"
        if self.token:
            text = text.replace(self.token, "<token>")
            bot_id = self.token.split(":", 1)[0]
            if len(bot_id) >= 5:
                text = text.replace(bot_id, "<bot>")
        return text[:300]

    def _next(self) -> str | None:
        try:
            return self.outbox.get(timeout=0.5)
        except queue.Empty:
            return None

    async def _poller(self, bot: object) -> None:
        offset = None
        while not self._stop.is_set():
            try:
                updates = await bot.get_updates(offset=offset, timeout=1)  # type: ignore[attr-defined]
            except Exception as exc:
                log.warning("telegram polling failed: %s", self.redact(exc))
                await asyncio.sleep(1.0)
                continue
            for update in updates:
                offset = update.update_id + 1
                message = update.message
                if message is None or message.text is None:
                    continue
                if str(message.chat.id) != self.chat_id:
                    log.warning("telegram: ignored a message from chat %s", message.chat.id)
                    continue
                words = message.text.strip()[:200].split()
                command = words[0].split("@")[0].lower() if words else ""
                if command not in COMMANDS:
                    self.send(f"unknown command {command}; try {', '.join(COMMANDS)}")
                    continue
                if command == "/challenge":          # /challenge start | promote [SUBJECT] | demote [SUBJECT]
                    command = " ".join([command, *words[1:3]])
                self.commands.append(command)
                assert self.on_command is not None
                try:
                    reply = self.on_command(command)
                except Exception as exc:
                    reply = f"{command} failed: {exc!r}"
                self.send(reply)
