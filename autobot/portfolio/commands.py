"""The operator's commands (/status /pause /resume /stop /challenge ...), as a table of small
handlers behind one interface (:class:`Operable`): Telegram, ``autobot serve`` and the CLI's
command queue all reach a node through :func:`run_command`. Plain Python: a test runs the table
against any :class:`Operable`."""

from __future__ import annotations

from typing import Callable, Protocol


class Operable(Protocol):
    """What the commands need of a node."""

    halted: bool

    def pause_entries(self) -> None: ...
    def resume_entries(self) -> None: ...
    def stop_trading(self, ts: int, why: str) -> None: ...
    def challenge_command(self, verb: str, subject: str | None, ts: int) -> str: ...
    def status_text(self) -> str: ...


def _pause(node: Operable, words: list[str], ts: int) -> str:
    node.pause_entries()
    return "paused: no new entries until /resume (open positions keep their exits)"


def _resume(node: Operable, words: list[str], ts: int) -> str:
    node.resume_entries()
    return "resumed" + (" (but trading is HALTED by a breaker)" if node.halted else "")


def _stop(node: Operable, words: list[str], ts: int) -> str:
    if not node.halted:
        node.stop_trading(ts, "stopped by the operator (/stop)")
    return "stopped: positions flattened, trading halted"


def _challenge(node: Operable, words: list[str], ts: int) -> str:
    if len(words) in (2, 3) and words[1] in ("start", "promote", "demote"):
        return node.challenge_command(words[1], words[2] if len(words) == 3 else None, ts)
    return "usage: /challenge start | promote [SUBJECT] | demote [SUBJECT]"


def _status(node: Operable, words: list[str], ts: int) -> str:
    return node.status_text()


COMMANDS: dict[str, Callable[[Operable, list[str], int], str]] = {
    "/pause": _pause, "/resume": _resume, "/stop": _stop, "/challenge": _challenge, "/status": _status,
}


def run_command(node: Operable, text: str, ts: int) -> str:
    """The reply to ``text`` at bar ``ts`` (anything unknown gets the status, as /status)."""
    words = text.split()
    handler = COMMANDS.get(words[0] if words else "", _status)
    if handler is not _challenge and len(words) > 1:
        handler = _status                 # '/pause now' is not /pause: reply with the status
    return handler(node, words, ts)
