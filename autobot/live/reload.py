"""Hot reload on a running node: watch the documents, check each edit, swap at a bar boundary.

* watchfiles watches the policy, its regimes document and its strategy files. An edit is
  validated and compiled at once. If it is invalid, the compiler-style error is logged (and
  journaled, and notified), and the running version keeps trading untouched.
* A valid strategy edit is staged and applied at the next bar boundary: once the bar being
  handled has reached every strategy, so the new version sees every bar from the next one. The new ``RuleStrategy`` has the same StrategyId, so it adopts the old one's
  open position and orders (not closed, not reopened). Its evaluator is warmed on the recent
  bars the node holds, then takes over the state of every unchanged computation
  (:meth:`StreamEvaluator.adopt_state`): a parameter-only change keeps the unchanged indicators
  exactly, with no fresh warm-up.
* A reload is a transaction: the new version's decisions on the recent bars are compared with
  the running version's, and the comparison goes into the log, the journal and the status.
  Every applied version is kept in the journal (text and hash); ``autobot rollback`` writes
  the previous one back, and that edit is reloaded like any other.
* A policy or regimes edit reloads the allocation, the limits and the regime detector (warmed on
  the recent bars).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from autobot.backtest.data import iso
from autobot.diagnostics import UserError, render_text
from autobot.strategy.clock import bar_open_ns
from autobot.language.diff import document_diff


def rehearse(text: str, config: Any, history: list[Any]) -> None:
    """Compile a new version and run its evaluator over the recent bars, off the node: whatever
    would fail when it starts fails here, before the running version is touched."""
    from autobot.language.compile import compile_strategy_text
    from autobot.strategy.rule_strategy import feed, stream_evaluator
    compiled = compile_strategy_text(text, config.document_name, dict(config.overrides) or None)
    feed(stream_evaluator(compiled), history)


def removed_exits(old: Any, new: Any) -> list[str]:
    """The exit rules and protective levels the running version has and the new one drops."""
    gone = [rule for rule in ("exit.long", "exit.short") if rule in old.plan.rules and rule not in new.plan.rules]
    gone += [name for name in ("stop_loss", "take_profit", "trailing_stop")
             if getattr(old, name) is not None and getattr(new, name) is None]
    return gone


def decision_diff(rule_names: tuple[str, ...], old: list[tuple[int, tuple[bool, ...]]],
                  new: list[tuple[int, tuple[bool, ...]]], new_names: tuple[str, ...]) -> dict[str, Any]:
    """How the new version would have decided on the recent bars, against the running one."""
    old_by_ts = dict(old)
    changed = []
    for ts, fired in new:
        before = old_by_ts.get(ts)
        if before is None:
            continue
        a = dict(zip(rule_names, before))
        b = dict(zip(new_names, fired))
        rules = sorted(r for r in set(a) | set(b) if r.startswith(("entry.", "exit.")) and a.get(r) != b.get(r))
        if rules:
            changed.append({"ts": ts, "rules": rules})
    compared = sum(1 for ts, _ in new if ts in old_by_ts)
    summary = (f"{len(changed)} of the last {compared} bars decide differently"
               + (f" (first: bar {iso(int(changed[0]['ts']))}, {', '.join(changed[0]['rules'])})" if changed else ""))
    return {"bars": compared, "differ": len(changed), "first": changed[:5], "summary": summary}


#: an edited file is checked once it has been unchanged this long (seconds)
SETTLE_SECONDS = 0.3


class Reloader:
    """Watches the documents of a :class:`PortfolioController` and swaps what changed."""

    def __init__(self, controller: Any) -> None:
        self.controller = controller
        self.staged: dict[str, str] = {}          # strategy id -> new text
        self.policy_staged: tuple[Any, str] | None = None    # (checked policy, its text)
        self._scheduled = False
        self.task: asyncio.Task | None = None

    # ------------------------------------------------------------------ watching
    def paths(self) -> dict[Path, str | None]:
        """Watched files -> the strategy id they define (None: the policy or its regimes)."""
        pol = self.controller.policy
        out: dict[Path, str | None] = {pol.path.resolve(): None, Path(pol.regimes.source.path).resolve(): None}
        for sid, strategy in self.controller.strategies.items():
            out[Path(strategy.config.document_name).resolve()] = sid
        return out

    def start(self) -> None:
        self.task = asyncio.get_event_loop().create_task(self._watch())

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def _watch(self) -> None:
        import watchfiles
        paths = self.paths()
        try:
            async for changes in watchfiles.awatch(*[str(p.parent) for p in paths], debounce=100, step=20,
                                                   recursive=False):
                current = self.paths()
                for _, changed in changes:
                    target = Path(changed).resolve()
                    if target in current:
                        await self._settled(target)
                        try:
                            self.check(target, current[target])
                        except Exception as exc:     # noqa: BLE001 - any failure is an answer, never the end
                            self._rejected(target, current[target],
                                           [f"the edit could not be checked ({type(exc).__name__}: {exc}); "
                                            "the running version keeps trading"])
        except asyncio.CancelledError:
            return

    @staticmethod
    async def _settled(path: Path, quiet: float = SETTLE_SECONDS, most: float = 5.0) -> None:
        """Wait until ``path`` has not changed for ``quiet`` seconds (at most ``most``): an editor or
        a copy still writing the file must not have a half-written version checked and applied."""
        import os

        def mark() -> tuple[int, int] | None:
            try:
                st = os.stat(path)
                return st.st_size, st.st_mtime_ns
            except OSError:
                return None
        loop = asyncio.get_running_loop()
        start, last, since = loop.time(), mark(), loop.time()
        while loop.time() - since < quiet and loop.time() - start < most:
            await asyncio.sleep(0.05)
            now = mark()
            if now != last:
                last, since = now, loop.time()

    # ------------------------------------------------------------------ checking
    def check(self, path: Path, sid: str | None) -> bool:
        """Validate and compile an edited document; stage it when it is valid."""
        from autobot.workspace import compile_strategy_text, load_runtime_policy, rebind_strategy
        c = self.controller
        from autobot.documents.load import MAX_BYTES
        from autobot.safeio import ReadRefused, read_bounded
        try:
            text = read_bounded(path, MAX_BYTES).decode("utf-8")
        except ReadRefused as exc:
            self._rejected(path, sid, [f"{exc.reason}; {exc.hint}"])
            return False
        except (OSError, UnicodeDecodeError) as exc:
            self._rejected(path, sid, [f"cannot read {path.name}: {exc}"])
            return False
        try:
            if sid is not None:
                compiled = rebind_strategy(compile_strategy_text(text, c.strategies[sid].config.document_name),
                                           c.config.instrument_map)
                if compiled.id != sid:
                    self._rejected(path, sid, [f"the strategy id changed from '{sid}' to '{compiled.id}'; "
                                               "renaming a running strategy is not a reload"])
                    return False
                if text == c.strategies[sid].config.document:
                    return False
                running = c.strategies[sid].compiled
                if running is not None:
                    was, now = running.document.market, compiled.document.market
                    changed = [f"{k} {getattr(was, k)!r} -> {getattr(now, k)!r}" for k in ("instrument", "bar")
                               if getattr(was, k) != getattr(now, k)]
                    if changed:
                        self._rejected(path, sid, [f"{path.name}: the market changed ({', '.join(changed)}); a "
                                                   "running strategy keeps its instrument and bar size: restart "
                                                   "the node to trade another market"])
                        return False
                    gone = removed_exits(running, compiled)
                    if gone and not c.policy.document.reload_may_remove_exits:
                        self._rejected(path, sid, [f"{path.name}: the edit removes {', '.join(gone)} from the "
                                                   "running strategy (a half-written file?); set "
                                                   "'reload_may_remove_exits: true' in the policy to allow it"])
                        return False
                self.staged[sid] = text
            else:
                # the compiled policy is what gets applied: a later edit is checked on its own
                own = text if path.resolve() == Path(c.policy.path).resolve() else \
                    read_bounded(c.policy.path, MAX_BYTES).decode("utf-8")
                self.policy_staged = (load_runtime_policy(c.policy.path, c.config.instrument_map,
                                                           c.config.universe), own)
        except UserError as err:
            sources = {d.file: text for d in err.diagnostics}
            self._rejected(path, sid, [render_text(d, sources.get(d.file)) for d in err.diagnostics])
            return False
        except (ReadRefused, OSError, UnicodeDecodeError) as exc:
            self._rejected(path, sid, [f"cannot read the policy: {exc}"])
            return False
        c.log.info(f"reload staged for {path.name}: applied at the next bar")
        return True

    def _rejected(self, path: Path, sid: str | None, errors: list[str]) -> None:
        c = self.controller
        message = f"reload of {path.name} rejected; the running version keeps trading:\n" + "\n".join(errors)
        c.log.error(message)
        c.reloads.append({"ts": c.last_bar_ts, "file": str(path), "strategy": sid, "ok": False,
                          "errors": errors})
        if c.journal is not None:
            c.journal.event("reload_rejected", c.last_bar_ts, sid, file=str(path), errors=errors)
        c.notify(f"reload of {path.name} rejected: {errors[0].splitlines()[0] if errors else ''}")

    # ------------------------------------------------------------------ applying
    def schedule(self, ts: int) -> None:
        """Apply the staged edits right after the bar ``ts`` has been handled by every strategy
        (the data engine hands a bar to all its subscribers in one callback of the event loop):
        the new versions then see every bar from the next one on, and none is skipped."""
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_event_loop().call_soon(self.apply, ts)

    def apply(self, ts: int) -> None:
        """Apply the staged edits, between two bars (``ts``: the last bar handled)."""
        self._scheduled = False
        c = self.controller
        if self.policy_staged:
            staged, self.policy_staged = self.policy_staged, None
            try:
                self._reload_policy(ts, *staged)
            except Exception as exc:      # noqa: BLE001 - reported; the running policy stays in force
                self._rejected(Path(c.policy.path), None, [f"applying the policy failed ({type(exc).__name__}: "
                                                           f"{exc})"])
        staged, self.staged = self.staged, {}
        for sid, text in staged.items():
            try:
                self.swap(sid, text, ts)
            except Exception as exc:      # noqa: BLE001 - reported, never the end of the watcher
                self._rejected(Path(c.strategies[sid].config.document_name), sid,
                               [f"applying the edit failed ({type(exc).__name__}: {exc})"])

    def swap(self, sid: str, text: str, ts: int) -> dict[str, Any]:
        """Replace strategy ``sid`` by the version ``text`` (see the module docstring)."""
        import msgspec

        from autobot.strategy.rule_strategy import RuleStrategy
        c = self.controller
        old = c.strategies[sid]
        new = RuleStrategy(msgspec.structs.replace(old.config, document=text))
        history = [b for b in reversed(c.cache.bars(old.config.bar_type)) if b.ts_event <= ts]
        state = old.evaluator.state() if old.evaluator is not None else {}
        rehearse(text, old.config, history)   # fails here, with the running version untouched
        old.handing_over = True               # its orders and position pass to the new instance
        c.retire(old)
        for topic in (f"events.order.{old.id}", f"events.position.{old.id}"):
            try:
                c.msgbus.unsubscribe(topic, old.handle_event)
            except (KeyError, ValueError):
                pass
        try:
            c.create_strategy(new, start=True)
            fired = new.warm(history)
            taken = new.evaluator.adopt_state(state)
        except Exception:
            # never no strategy: the running version comes back, with its position and state
            restored = RuleStrategy(old.config)
            c.create_strategy(restored, start=True)
            restored.warm(history)
            restored.evaluator.adopt_state(state)
            restored.take_over(old)
            c.steer(sid, restored)
            raise
        new.take_over(old)
        c.steer(sid, new)
        diff = document_diff(old.compiled, new.compiled)
        gone = removed_exits(old.compiled, new.compiled)
        if gone:
            diff += f" (warning: removes {', '.join(gone)})"
        decisions = decision_diff(old.evaluator.rule_names, list(old.recent), fired, new.evaluator.rule_names)
        sha = c.journal.version(new.config.document_name, text) if c.journal is not None else ""
        record = {"ts": ts, "file": new.config.document_name, "strategy": sid, "ok": True, "changes": diff,
                  "decisions": decisions["summary"], "kept_state": len(taken), "version": sha}
        c.reloads.append(record)
        c.log.warning(f"reloaded {sid}: {diff}; {decisions['summary']}; kept {len(taken)} state items")
        if c.journal is not None:
            c.journal.event("reload", ts, sid, changes=diff, decisions=decisions, kept_state=len(taken), version=sha)
        c.notify(f"reloaded {sid}: {diff}")
        return record

    def _add_strategies(self, policy: Any, ts: int) -> None:
        """Strategies a policy edit brings in: built, warmed on the recent bars and started (their
        files are watched from now on, as the watcher reads the policy's globs at every change).
        One on a market the node is not fed is refused, and keeps no share."""
        from nautilus_trader.model.data import BarType

        from autobot.venue.settings import bar_spec_text
        from autobot.portfolio.setup import strategy_config
        from autobot.strategy.rule_strategy import RuleStrategy
        c = self.controller
        fed = {str(bt) for bt in c.config.bar_types} | {str(c.config.regime_bar_type)}
        for sid in policy.used:
            if sid in c.strategies:
                continue
            cs = policy.strategies[sid]
            bar_type = f"{cs.document.market.instrument}-{bar_spec_text(cs.bar.seconds)}-EXTERNAL"
            if bar_type not in fed:
                c.withdraw(sid)
                self._rejected(Path(cs.source.path), sid, [f"strategy '{sid}' trades {bar_type}, which this node is "
                                                           "not fed: restart the node to add a market"])
                continue
            strategy = RuleStrategy(strategy_config(policy, sid, BarType.from_str(bar_type), len(c.strategies) + 100))
            c.create_strategy(strategy, start=True)
            strategy.warm([b for b in reversed(c.cache.bars(strategy.config.bar_type)) if b.ts_event <= ts])
            c.steer(sid, strategy)
            if c.journal is not None:
                c.journal.version(cs.source.path, cs.source.text)
                c.journal.event("strategy_added", ts, sid, file=cs.source.path)
            c.log.warning(f"added strategy {sid} from the policy edit")
            c.notify(f"added strategy {sid}")

    def _reload_policy(self, ts: int, policy: Any, text: str) -> None:
        """Apply a checked policy (and its regimes) and reallocate at once."""
        from autobot.evaluate.regime import RegimeDetector
        c = self.controller
        detector = None
        if policy.regimes.source.text != c.policy.regimes.source.text:
            detector = RegimeDetector(policy.regimes)
            cfg = c.config
            for bar in reversed(c.cache.bars(cfg.regime_bar_type)):
                if bar.ts_event <= ts:
                    detector.update(bar_open_ns(bar), bar.open.as_double(), bar.high.as_double(), bar.low.as_double(),
                                    bar.close.as_double(), bar.volume.as_double())
        c.swap_policy(policy, detector)             # the whole policy at once: nothing of the old one stays
        self._add_strategies(policy, ts)
        c.reallocate(ts)
        if c.journal is not None:
            c.journal.version(str(policy.path), text)
            c.journal.version(policy.regimes.source.path, policy.regimes.source.text)
            c.journal.event("reload", ts, None, changes="policy", decisions="", kept_state=0, version="")
        c.reloads.append({"ts": ts, "file": str(policy.path), "strategy": None, "ok": True, "changes": "policy"})
        c.log.warning("reloaded the policy and its regimes")
        c.notify("reloaded the policy")
