"""A project on disk: find its documents, then load, validate and compile them together.

This is the one place that knows how documents refer to each other (a policy
names a regimes file and strategy files; strategies may compare ``regime`` with
the regime names), so ``autobot validate`` can report every error in every file.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from typing import Any
from pathlib import Path

from autobot.diagnostics import Diagnostic, DiagnosticSink, UserError
from autobot.documents.load import MAX_BYTES, SourceFile, load_file
from autobot.documents.models import PolicyDocument, RegimesDocument, StrategyDocument
from autobot.documents.validate import document_kind, validate_document
from autobot.language.compile import (CompiledRegimes, CompiledStrategy, check_policy, compile_regimes,  # noqa: F401
                                      compile_strategy, compile_strategy_text)

YAML_SUFFIXES = (".yaml", ".yml")


def find_project_root(start: Path | None = None) -> Path:
    """The nearest folder upwards holding ``policy.yaml`` or ``strategies/``; else ``start``."""
    here = _real(start or Path.cwd())
    for folder in (here, *here.parents):
        if (folder / "policy.yaml").is_file() or (folder / "strategies").is_dir():
            return folder
    return here


def default_paths(root: Path) -> list[Path]:
    """``strategies/``, ``regimes/`` and policy files in the project root."""
    paths: list[Path] = []
    for sub in ("strategies", "regimes"):
        if (root / sub).is_dir():
            paths.append(root / sub)
    for candidate in sorted(root.glob("*.y*ml")):
        if candidate.suffix in YAML_SUFFIXES and _looks_like_policy(candidate):
            paths.append(candidate)
    return paths


def _looks_like_policy(path: Path) -> bool:
    from autobot.safeio import read_prefix
    head = read_prefix(path, 4096).decode("utf-8", errors="replace")
    return any(line.startswith("policy:") for line in head.splitlines())


def project_regimes_path(strategy: Path) -> Path:
    """The regimes document a strategy run alone reads ``regime`` from: ``regimes/regimes.yaml`` of
    its project (else of the current folder's project); the first candidate when neither exists."""
    candidates = [find_project_root(strategy.parent) / "regimes" / "regimes.yaml",
                  find_project_root() / "regimes" / "regimes.yaml"]
    return next((c for c in candidates if c.is_file()), candidates[0])


def regime_names_at(path: Path) -> tuple[str, ...]:
    """The regime names a regimes document defines (``()`` when there is none, or it does not
    validate: its own errors are reported where it is compiled)."""
    if not path.is_file():
        return ()
    loaded = Workspace().load(path)
    return tuple(sorted(loaded.model.regimes)) if isinstance(loaded.model, RegimesDocument) else ()


def expand(paths: list[Path]) -> list[Path]:
    """Files named directly, plus the YAML files inside folders (sorted)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.suffix in YAML_SUFFIXES and f.is_file()))
        else:
            out.append(p)
    seen: set[Path] = set()
    unique = []
    for p in out:
        key = _real(p)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def _real(path: Path) -> Path:
    """``path`` absolute with its links followed; a symbolic link loop stays as it is (``Path.resolve``
    raises on one; the loop is then reported where the file is read, naming it)."""
    return Path(os.path.realpath(path))


def display_path(path: Path) -> str:
    """A path as users typed it: relative to the current folder when inside it."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


@dataclass
class Loaded:
    """A document after loading and model validation."""

    source: SourceFile
    kind: str | None
    model: object | None


@dataclass
class Workspace:
    """Documents loaded and compiled together, with every diagnostic found."""

    sink: DiagnosticSink = field(default_factory=DiagnosticSink)
    docs: dict[Path, Loaded] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    strategies: dict[str, CompiledStrategy] = field(default_factory=dict)
    regimes: dict[Path, CompiledRegimes] = field(default_factory=dict)

    def load(self, path: Path) -> Loaded:
        """Load and validate one file (once); diagnostics go to the sink."""
        key = _real(path)
        if key in self.docs:
            return self.docs[key]
        shown = display_path(path)
        try:
            source = load_file(path, shown)
        except UserError as err:
            self.sink.extend(err.diagnostics)
            from autobot.safeio import read_text_or_none
            text = read_text_or_none(path, MAX_BYTES)    # keep the text so the error can show its source line
            if text is not None:
                self.sources[shown] = text
            loaded = Loaded(SourceFile(shown, "", None), None, None)
            self.docs[key] = loaded
            return loaded
        self.sources[shown] = source.text
        model, diagnostics = validate_document(source)
        self.sink.extend(diagnostics)
        loaded = Loaded(source, document_kind(source), model)
        self.docs[key] = loaded
        return loaded

    def check(self, paths: list[Path]) -> None:
        """Load, validate and compile ``paths`` and the documents their policies refer to."""
        files = expand(paths)
        loaded = [(p, self.load(p)) for p in files]
        policy_refs: list[tuple[Path, Loaded]] = [(p, d) for p, d in loaded if isinstance(d.model, PolicyDocument)]
        for p, d in policy_refs:
            pol = d.model
            assert isinstance(pol, PolicyDocument)
            base = _real(p).parent
            for f in self._policy_strategy_files(base, pol):
                loaded.append((f, self.load(f)))
            regimes_path = base / pol.regimes
            if regimes_path.is_file():
                loaded.append((regimes_path, self.load(regimes_path)))
        regime_names: set[str] = set()
        for p, d in loaded:
            if isinstance(d.model, RegimesDocument) and _real(p) not in self.regimes:
                compiled = compile_regimes(d.source, d.model, self.sink)
                if compiled is not None:
                    self.regimes[_real(p)] = compiled
                regime_names.update(d.model.regimes)
        names = tuple(sorted(regime_names)) if regime_names else None
        compiled_paths: set[Path] = set()
        for p, d in loaded:
            if isinstance(d.model, StrategyDocument) and _real(p) not in compiled_paths:
                compiled_paths.add(_real(p))
                # a strategy checked alone reads the regimes of its project, as backtest runs it
                own = names if names is not None else self._project_regime_names(p)
                self._compile_strategy(d, own or None)
                if own == () and d.model.strategy in self.strategies:
                    self._warn_regime_unset(d, self.strategies[d.model.strategy])
        for p, d in policy_refs:
            self._check_policy(p, d)

    def _project_regime_names(self, strategy: Path) -> tuple[str, ...]:
        """The regime names of the regimes document a strategy runs with alone (``()`` when it has none)."""
        return regime_names_at(project_regimes_path(strategy))

    def _warn_regime_unset(self, d: Loaded, compiled: CompiledStrategy) -> None:
        """Reading ``regime`` with no regimes document: the value is never set, so a rule on it never fires."""
        if "regime" not in compiled.plan.externals:
            return
        self.sink.add(compiled.use_diagnostic(("regime",), "no-regimes",
                                              "this strategy reads 'regime' but its project has no regimes document "
                                              "(regimes/regimes.yaml): 'regime' is never set, so a rule on it never "
                                              "fires", "add regimes/regimes.yaml beside strategies/, or run it from "
                                              "a policy that names one", severity="warning"))

    def _compile_strategy(self, d: Loaded, regime_names: tuple[str, ...] | None) -> None:
        assert isinstance(d.model, StrategyDocument)
        doc = d.model
        if doc.strategy in self.strategies:
            other = self.strategies[doc.strategy].source.path
            node = d.source.node_at(("strategy",))[0]
            assert node is not None
            self.sink.add(d.source.diagnostic(node.start, node.end, "duplicate-strategy",
                                              f"strategy id '{doc.strategy}' is also used by {other}",
                                              "strategy ids must be unique; rename one"))
            return
        compiled = compile_strategy(d.source, doc, self.sink, regime_names=regime_names)
        if compiled is not None:
            self.strategies[doc.strategy] = compiled

    @staticmethod
    def _policy_strategy_files(base: Path, pol: PolicyDocument) -> list[Path]:
        files: list[Path] = []
        for pattern in pol.strategies:
            matches = sorted(glob.glob(str(base / pattern)))
            files.extend(Path(m) for m in matches if Path(m).suffix in YAML_SUFFIXES
                         and (Path(pattern).is_absolute() or _inside(Path(m), base)))
        return files

    @staticmethod
    def _outside_globs(base: Path, pol: PolicyDocument) -> list[str]:
        """Relative strategy globs that reach outside the project (they match nothing)."""
        return [pattern for pattern in pol.strategies if not Path(pattern).is_absolute()
                and any(not _inside(Path(m), base) for m in glob.glob(str(base / pattern)))]

    def _check_policy(self, path: Path, d: Loaded) -> None:
        pol = d.model
        assert isinstance(pol, PolicyDocument)
        base = _real(path).parent
        for pattern in self._outside_globs(base, pol):
            node, found = d.source.node_at(("strategies",))
            where = node if found and node is not None else d.source.root
            assert where is not None
            self.sink.add(d.source.diagnostic(where.start, where.end, "outside-project",
                                              f"the strategies glob '{pattern}' reaches outside the project folder "
                                              f"({base})", "keep strategies inside the project, or write an "
                                              "absolute path to use files elsewhere on purpose"))
        ids: set[str] = set()
        quoting: set[str] = set()
        for f in self._policy_strategy_files(base, pol):
            loaded = self.docs.get(_real(f))
            if loaded is not None and isinstance(loaded.model, StrategyDocument):
                ids.add(loaded.model.strategy)
                if loaded.model.quote is not None:
                    quoting.add(loaded.model.strategy)
        regimes_path = _real(base / pol.regimes)
        regime_names: tuple[str, ...] | None = None
        node = d.source.node_at(("regimes",))[0]
        if not regimes_path.is_file():
            assert node is not None
            self.sink.add(d.source.diagnostic(node.start, node.end, "missing-file",
                                              f"regimes file '{pol.regimes}' not found",
                                              "give a path relative to the policy file, e.g. regimes/regimes.yaml"))
        else:
            regimes_doc = self.docs.get(regimes_path)
            if regimes_doc is not None and isinstance(regimes_doc.model, RegimesDocument):
                regime_names = tuple(regimes_doc.model.regimes)
            elif regimes_doc is not None and regimes_doc.kind not in (None, "regimes") and node is not None:
                self.sink.add(d.source.diagnostic(node.start, node.end, "wrong-document",
                                                  f"'{pol.regimes}' is a {regimes_doc.kind} document, not regimes"))
        check_policy(d.source, pol, self.sink, ids, regime_names)
        self._check_risk_targets(d, pol)
        self._check_universe(d, pol, base)
        self._check_markets(d, pol, ids)
        self._check_priors(d, pol, base, ids)
        for regime, shares in pol.allocations.items():      # a policy does not run quoting strategies (yet)
            for sid in shares:
                where = self._key(d, ("allocations", regime), sid) or d.source.root
                if sid in quoting and where is not None:
                    self.sink.add(d.source.diagnostic(where.start, where.end, "not-in-a-policy",
                                                      f"'{sid}' is a quote: (market-making) strategy, which a "
                                                      "policy does not run yet",
                                                      "remove it from the allocations; run it alone: autobot "
                                                      f"backtest {sid}.yaml --data BOOKFILE, or autobot live "
                                                      f"{sid}.yaml --replay BOOKFILE"))

    def _check_markets(self, d: Loaded, pol: PolicyDocument, ids: set[str]) -> None:
        """subsets and markets: only with a universe; a subset's members universe instruments;
        each markets key a strategy of the policy, each entry an instrument of the universe, an
        asset class or a subset, and every strategy named left with at least one market."""
        from autobot.diagnostics import did_you_mean
        universe = list(pol.universe or {})
        subsets = pol.subsets or {}
        for section in ("subsets", "markets"):
            if getattr(pol, section) and not universe:
                key = d.source.root.keys.get(section) if d.source.root is not None and \
                    d.source.root.kind == "mapping" else None
                where = key or d.source.root
                if where is not None:
                    self.sink.add(d.source.diagnostic(where.start, where.end, "no-universe",
                                                      f"{section} chooses among a universe's instruments, and this "
                                                      "policy has no universe",
                                                      "add a universe: (instrument id -> bar file) or remove "
                                                      f"{section}"))
                return
        for name, members in subsets.items():
            if name in ASSET_CLASSES:
                key = self._key(d, ("subsets",), name)
                if key is not None:
                    self.sink.add(d.source.diagnostic(key.start, key.end, "subset-name",
                                                      f"subset '{name}' has an asset class's name",
                                                      "call it something else, e.g. my_" + name))
            for k, iid in enumerate(members):
                if iid not in universe:
                    self._entry(d, ("subsets", name, k), "unknown-instrument",
                                f"subset '{name}' names {iid}, which is not in the universe" + did_you_mean(iid, universe),
                                "use the universe's ids: " + ", ".join(universe[:10]))
        choices = list(dict.fromkeys([*universe, *ASSET_CLASSES, *subsets]))
        for sid, names in (pol.markets or {}).items():
            key = self._key(d, ("markets",), sid)
            if sid not in ids:
                if key is not None:
                    self.sink.add(d.source.diagnostic(key.start, key.end, "unknown-strategy",
                                                      f"markets names '{sid}', which is not a strategy of this "
                                                      "policy" + did_you_mean(sid, sorted(ids)),
                                                      "use a strategy id from the policy's strategies"
                                                      + (f": {', '.join(sorted(ids))}" if ids else "")))
                continue
            bad = False
            for k, name in enumerate(names):
                if name not in choices:
                    bad = True
                    self._entry(d, ("markets", sid, k), "unknown-market",
                                f"'{name}' is not an instrument of the universe, an asset class or a subset"
                                + did_you_mean(name, choices), "use one of: " + ", ".join(choices[:15]))
            if not bad and not markets_of(pol, sid) and key is not None:
                self.sink.add(d.source.diagnostic(key.start, key.end, "no-markets",
                                                  f"'{sid}' trades none of the universe's instruments: "
                                                  f"{', '.join(names) or 'an empty list'} selects nothing",
                                                  "name at least one instrument, asset class or subset that "
                                                  "the universe has"))

    def _entry(self, d: Loaded, path: tuple[Any, ...], code: str, message: str, hint: str) -> None:
        """An error at the list entry ``path`` (when the source has it)."""
        node = d.source.node_at(path)[0]
        if node is not None:
            self.sink.add(d.source.diagnostic(node.start, node.end, code, message, hint))

    @staticmethod
    def _key(d: Loaded, path: tuple[str, ...], name: str) -> Any:
        parent, found = d.source.node_at(path)
        return parent.keys.get(name) if found and parent is not None and parent.kind == "mapping" else None

    def _check_priors(self, d: Loaded, pol: PolicyDocument, base: Path, ids: set[str]) -> None:
        """evidence_priors: each key a strategy of the policy (or a universe member 'id@INSTRUMENT'),
        each file inside the project and an 'autobot optimize --json' file with an out-of-sample record."""
        if not pol.evidence_priors:
            return
        from autobot.documents.priors import read_prior
        for sid, file in pol.evidence_priors.items():
            key = self._key(d, ("evidence_priors",), sid)
            value = d.source.node_at(("evidence_priors", sid))[0]
            strategy, at, iid = sid.partition("@")
            if key is not None and (strategy not in ids or (at and iid not in (pol.universe or {}))):
                self.sink.add(d.source.diagnostic(key.start, key.end, "unknown-strategy",
                                                  f"evidence_priors names '{sid}', which is not a strategy of this "
                                                  "policy" + (" (or a member of its universe)" if at else ""),
                                                  "use a strategy id from the policy's strategies"
                                                  + (f": {', '.join(sorted(ids))}" if ids else "")))
            where = value or key or d.source.root
            path = base / file
            if not _inside(path, base) and not Path(file).is_absolute():
                self.sink.add(d.source.diagnostic(where.start, where.end, "outside-project",
                                                  f"the study '{file}' reaches outside the project folder",
                                                  "keep it inside the project, or write an absolute path"))
            elif not path.is_file():
                self.sink.add(d.source.diagnostic(where.start, where.end, "missing-file", f"study '{file}' not found",
                                                  "give the path of an 'autobot optimize --json' file, relative "
                                                  "to the policy file"))
            else:
                try:
                    read_prior(path)
                except ValueError as err:
                    self.sink.add(d.source.diagnostic(where.start, where.end, "bad-study",
                                                      f"study '{file}': {err}",
                                                      "write it with 'autobot optimize STRATEGY.yaml --json FILE'"))

    def _check_universe(self, d: Loaded, pol: PolicyDocument, base: Path) -> None:
        """Every universe instrument an id, every file inside the project and readable (its bars,
        bar size and calendar are checked when a run loads it, at this line)."""
        if not pol.universe:
            return
        from autobot.data.catalog import is_catalog
        parent, found = d.source.node_at(("universe",))
        venues = sorted({iid.rpartition(".")[2] for iid in pol.universe})
        if len(venues) > 1 and found and parent is not None:
            self.sink.add(d.source.diagnostic(parent.start, parent.end, "universe-venues",
                                              f"a universe trades on one venue (one simulated account), got "
                                              f"{', '.join(venues)}",
                                              "name every instrument on one venue, e.g. SPY.ARCA and IWM.ARCA"))
        for iid, file in pol.universe.items():
            key = self._key(d, ("universe",), iid)
            value, _ = d.source.node_at(("universe", iid))
            problem = _instrument_problem(iid)
            if problem and key is not None:
                self.sink.add(d.source.diagnostic(key.start, key.end, "bad-instrument", problem,
                                                  "name each instrument SYMBOL.VENUE, e.g. SPY.ARCA"))
            path = base / file
            where = value if value is not None else key
            if where is None:
                continue
            if not _inside(path, base) and not Path(file).is_absolute():
                self.sink.add(d.source.diagnostic(where.start, where.end, "outside-project",
                                                  f"the universe file '{file}' reaches outside the project folder",
                                                  "keep the data inside the project, or write an absolute path"))
            elif not path.is_file() and not is_catalog(path):
                self.sink.add(d.source.diagnostic(where.start, where.end, "missing-file",
                                                  f"universe file '{file}' of {iid} not found",
                                                  "give a bar file's path relative to the policy file"))
        self._check_universe_fit(d, pol, base)

    def _check_universe_fit(self, d: Loaded, pol: PolicyDocument, base: Path) -> None:
        """Instruments that cannot share the universe's one account and one clock, at their lines:
        a quote currency other than the others' (one account currency), and a file whose bar size
        is not the others' (a universe runs on one bar size; each file's bars are read, bounded)."""
        from statistics import median

        from autobot.data.catalog import is_catalog, load_member_bars
        from autobot.venue.instruments import quote_currency
        assert pol.universe is not None
        ok = [iid for iid in pol.universe if _instrument_problem(iid) is None]

        def line_of(iid: str, value: bool) -> Any:
            node = d.source.node_at(("universe", iid))[0] if value else None
            return node or self._key(d, ("universe",), iid) or d.source.root

        def minority(of: dict[str, Any]) -> tuple[Any, list[str]]:
            counts: dict[Any, int] = {}
            for v in of.values():
                counts[v] = counts.get(v, 0) + 1
            usual = max(counts, key=lambda v: (counts[v], -list(of.values()).index(v)))
            return usual, [iid for iid, v in of.items() if v != usual]
        try:
            quotes = {iid: quote_currency(iid) for iid in ok}
        except Exception:                        # an id Nautilus refuses: the run says so, at its line
            quotes = {}
        if len(set(quotes.values())) > 1:
            usual, odd = minority(quotes)
            for iid in odd:
                where = line_of(iid, False)
                self.sink.add(d.source.diagnostic(where.start, where.end, "universe-currency",
                                                  f"{iid} is quoted in {quotes[iid]}, the universe's other "
                                                  f"instruments in {usual}: a portfolio keeps one account currency",
                                                  f"drop it, or trade a market quoted in {usual}"))
        steps: dict[str, int] = {}
        for iid in ok:
            path = base / pol.universe[iid]
            if not ((path.is_file() or is_catalog(path)) and (_inside(path, base) or
                                                               Path(pol.universe[iid]).is_absolute())):
                continue
            try:
                bars = load_member_bars(path, iid)
            except UserError as err:
                where = line_of(iid, True)
                first = err.diagnostics[0] if err.diagnostics else None
                self.sink.add(d.source.diagnostic(where.start, where.end, "bad-data",
                                                  f"universe file '{pol.universe[iid]}' of {iid} cannot be read: "
                                                  f"{first.message if first is not None else err}",
                                                  "run 'autobot backtest' on the file alone to see every problem"))
                continue
            if len(bars) > 1:
                head = bars.ts[:501]
                steps[iid] = int(median((head[1:] - head[:-1]).tolist()))
        if len(set(steps.values())) > 1:
            usual, odd = minority(steps)
            for iid in odd:
                where = line_of(iid, True)
                self.sink.add(d.source.diagnostic(where.start, where.end, "universe-bar-size",
                                                  f"the bars of {iid} are {_step_text(steps[iid])} apart, the "
                                                  f"universe's others {_step_text(usual)}: a universe runs on one "
                                                  "bar size", "give files of one bar size (resample this one)"))

    def _check_risk_targets(self, d: Loaded, pol: PolicyDocument) -> None:
        """hrp and target_volatility need PyPortfolioOpt (the portfolio extra); drawdown_scaling needs
        the max_drawdown it scales toward; a target volatility is above 0 and at most 100%."""
        import importlib.util

        def at(*path: str) -> object:
            node, found = d.source.node_at(path)
            return node if found and node is not None else d.source.root
        needs = [("allocation_method",)] if pol.allocation_method == "hrp" else []
        if pol.risk.target_volatility is not None:
            needs.append(("risk", "target_volatility"))
            try:
                v = share_value(pol.risk.target_volatility)
            except ValueError:
                v = 0.5                          # not a share: the document check says so
            if not 0 < v <= 1:
                where = at("risk", "target_volatility")
                self.sink.add(d.source.diagnostic(where.start, where.end, "out-of-range",
                                                  f"risk.target_volatility must be above 0% and at most 100%, got "
                                                  f"{v:.4g}", "write an annual volatility like 10%"))
        if needs and importlib.util.find_spec("pypfopt") is None:
            where = at(*needs[0])
            self.sink.add(d.source.diagnostic(where.start, where.end, "missing-dependency",
                                              "hierarchical risk parity and target volatility use PyPortfolioOpt "
                                              "(the opt-in portfolio extra)", 'pip install -e ".[portfolio]"'))
        if pol.risk.drawdown_scaling and pol.risk.max_drawdown is None:
            where = at("risk", "drawdown_scaling")
            self.sink.add(d.source.diagnostic(where.start, where.end, "needs-max-drawdown",
                                              "risk.drawdown_scaling scales toward risk.max_drawdown, which the "
                                              "policy does not set", "add e.g. 'max_drawdown: 20%' under risk"))

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.sink.items


def load_strategy(path: Path, overrides: dict[str, float] | None = None,
                  regime_names: tuple[str, ...] | None = None) -> CompiledStrategy:
    """Load and compile one strategy file; raises :class:`UserError` with every problem found.
    ``regime_names``: the regimes in play (a rule comparing ``regime`` with another name is an error)."""
    ws = Workspace()
    d = ws.load(path)
    if d.model is not None and not isinstance(d.model, StrategyDocument):
        raise UserError([d.source.diagnostic(0, 1, "wrong-document",
                                             f"expected a strategy document, got a {d.kind} document",
                                             "pass a file from strategies/")])
    if d.model is None:
        raise UserError(ws.diagnostics)
    compiled = compile_strategy(d.source, d.model, ws.sink, overrides=overrides, regime_names=regime_names)
    if compiled is None or ws.sink.has_errors:
        raise UserError([x for x in ws.diagnostics if x.severity == "error"])
    return compiled


@dataclass
class CompiledPolicy:
    """A policy with everything it refers to, compiled."""

    path: Path
    document: PolicyDocument
    regimes: CompiledRegimes
    strategies: dict[str, CompiledStrategy]          # every strategy the policy's globs find, by id
    allocations: dict[str, dict[str, float]]         # regime -> strategy -> share (fractions)
    priors: dict[str, Any] = field(default_factory=dict)   # strategy -> evidence.Prior (evidence_priors)

    @property
    def instruments(self) -> list[str]:
        """The instruments the used strategies trade, then the regimes' own instrument if another."""
        out = sorted({self.strategies[s].document.market.instrument for s in self.used})
        market = self.regimes.document.market
        if market is not None and market.instrument and market.instrument not in out:
            out.append(market.instrument)
        return out

    @property
    def used(self) -> list[str]:
        """Strategies some regime allocates capital to, in first-mention order."""
        out: list[str] = []
        for shares in self.allocations.values():
            out.extend(name for name in shares if name not in out)
        return out


def rebind_instruments(policy: CompiledPolicy, mapping: dict[str, str]) -> CompiledPolicy:
    """The policy with every strategy (and the regimes' market) that trades an instrument of
    ``mapping`` trading its new id instead (``--instrument`` / ``--venue``); the documents' text
    is unchanged, only the market the run binds them to."""
    from dataclasses import replace
    if not mapping:
        return policy
    strategies = {sid: rebind_strategy(cs, mapping) for sid, cs in policy.strategies.items()}
    regimes = replace(policy.regimes, document=_moved(policy.regimes.document, mapping))
    return replace(policy, strategies=strategies, regimes=regimes)


def _step_text(ns: int) -> str:
    """A bar spacing in words: '1d', '4h', '15m', '30s'."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if ns % (size * 10**9) == 0:
            return f"{ns // (size * 10**9)}{unit}"
    return f"{ns / 1e9:g}s"


def _instrument_problem(text: str) -> str | None:
    """Why ``text`` is not an instrument id SYMBOL.VENUE (validate stays light: no Nautilus here;
    a run checks it with Nautilus as well)."""
    if not text or any(c.isspace() or not c.isprintable() for c in text):
        return f"{text!r} holds whitespace or control characters; write an id like SPY.ARCA"
    symbol, dot, venue = text.rpartition(".")
    if not dot or not symbol or not venue:
        return f"{text!r} is not an instrument id like SPY.ARCA (SYMBOL.VENUE)"
    return None


def universe_member(sid: str, iid: str) -> str:
    """The id of strategy ``sid`` trading ``iid`` in a universe: ``trend_ema@SPY.ARCA``."""
    return f"{sid}@{iid}"


ASSET_CLASSES = ("equity", "fx", "crypto")


def markets_of(doc: PolicyDocument, sid: str) -> list[str]:
    """The universe instruments strategy ``sid`` trades, in the universe's order: those its
    ``markets`` entry names (instrument ids, asset classes as
    :func:`autobot.venue.instruments.asset_class` tells them, subset names), every instrument when
    it has none. Names that are not in the universe (``--universe`` replaced it) select nothing."""
    universe = list(doc.universe or {})
    wanted = (doc.markets or {}).get(sid)
    if wanted is None:
        return universe
    from autobot.venue.instruments import asset_class
    subsets = doc.subsets or {}
    chosen: set[str] = set()
    for name in wanted:
        if name in subsets:
            chosen.update(subsets[name])
        elif name in ASSET_CLASSES:
            chosen.update(iid for iid in universe if _instrument_problem(iid) is None and asset_class(iid) == name)
        else:
            chosen.add(name)
    return [iid for iid in universe if iid in chosen]


def expand_universe(policy: CompiledPolicy) -> CompiledPolicy:
    """A universe policy as one strategy per (strategy, instrument): each used strategy bound to
    every universe instrument, with its share split evenly between them (then the allocation method
    weighs them); a strategy with ``markets`` on those only (:func:`markets_of`; none left: its share
    stays in cash). The regimes run on their document's instrument when it is in the universe, else
    on the universe's first."""
    from dataclasses import replace
    universe = list(policy.document.universe or {})
    if not universe:
        return policy
    own = {sid: markets_of(policy.document, sid) for sid in policy.used}
    strategies: dict[str, CompiledStrategy] = {}
    for sid in policy.used:
        cs = policy.strategies[sid]
        for iid in own[sid]:
            strategies[universe_member(sid, iid)] = rebind_strategy(cs, {cs.document.market.instrument: iid})
    if not strategies:
        from autobot.diagnostics import Position
        raise UserError([Diagnostic.at(str(policy.path), Position(1, 1), None, "no-markets",
                                       "no strategy of the policy trades an instrument of its universe: their "
                                       "markets select none of " + ", ".join(universe[:10]),
                                       "check markets: against the universe's instruments (--universe replaces "
                                       "them; asset classes and subsets follow the new files)")])
    allocations = {regime: {universe_member(sid, iid): share / len(own[sid]) for sid, share in shares.items()
                            for iid in own.get(sid, ())} for regime, shares in policy.allocations.items()}
    priors = {}
    for sid in policy.used:                  # a member's own prior, else its strategy's
        for iid in own[sid]:
            prior = policy.priors.get(universe_member(sid, iid)) or policy.priors.get(sid)
            if prior is not None:
                priors[universe_member(sid, iid)] = prior
    market = policy.regimes.document.market
    regimes = policy.regimes
    if market is None or market.instrument not in universe:
        if market is not None:
            regimes = replace(regimes, document=regimes.document.model_copy(
                update={"market": market.model_copy(update={"instrument": universe[0]})}))
    return replace(policy, strategies=strategies, allocations=allocations, regimes=regimes, priors=priors)


def expand_present(listed: CompiledPolicy, present: set[str] | frozenset[str]) -> CompiledPolicy:
    """A universe policy (not yet expanded) expanded over the instruments of ``present`` only: a
    market with no bars in a run's window sits out, its strategies' shares going to the others
    (``backtest --policy`` and a study's trials). Relative files stay relative to the policy."""
    base = listed.path.parent
    return expand_universe(with_universe(listed, {iid: base / f for iid, f in (listed.document.universe or {}).items()
                                                  if iid in present}))


def load_runtime_policy(path: Path, instrument_map: dict[str, str] | None = None,
                        universe: dict[str, str] | None = None) -> CompiledPolicy:
    """A policy as a node (or a run re-running a node's bars) trades it: loaded, its instruments
    moved by ``instrument_map`` (``--instrument``/``--venue``), its universe replaced by
    ``universe`` (``--universe``: instrument id -> file) and a universe expanded into its members
    (:func:`expand_universe`). One function for the node, its controller, hot reload and the
    parity ledger, so they all trade the same strategies."""
    policy = rebind_instruments(load_policy(path), instrument_map or {})
    return expand_universe(with_universe(policy, universe) if universe else policy)


def with_universe(policy: CompiledPolicy, files: dict[str, Any]) -> CompiledPolicy:
    """``policy`` with its universe replaced by ``files`` (instrument id -> bar file, kept as
    absolute paths): ``--universe`` on ``backtest``/``optimize``/``live --policy``. A policy
    without a universe becomes one: every strategy its allocations name runs on every file's
    instrument."""
    from dataclasses import replace
    universe = {str(iid): str(Path(f).resolve()) for iid, f in files.items()}
    return replace(policy, document=policy.document.model_copy(update={"universe": universe}))


def universe_venue(policy: CompiledPolicy) -> str:
    """The venue a universe's instruments are on when ``--universe`` names them by file: the
    policy's universe's (one venue, as validate checks), else its first strategy's market's."""
    from nautilus_trader.model.identifiers import InstrumentId
    ids = list(policy.document.universe or {}) or [policy.strategies[sid].document.market.instrument
                                                   for sid in policy.used]
    return InstrumentId.from_str(ids[0]).venue.value if ids else "SIM"


def rebind_strategy(cs: CompiledStrategy, mapping: dict[str, str] | None) -> CompiledStrategy:
    """One compiled strategy bound to its instrument's new id (:func:`rebind_instruments`)."""
    from dataclasses import replace
    return replace(cs, document=_moved(cs.document, mapping)) if mapping else cs


def _moved(doc: Any, mapping: dict[str, str]) -> Any:
    market = getattr(doc, "market", None)
    if market is None or getattr(market, "instrument", None) not in mapping:
        return doc
    return doc.model_copy(update={"market": market.model_copy(update={"instrument": mapping[market.instrument]})})


def share_value(text: str) -> float:
    """A checked share (``60%``, ``0.6``, ``1/2``) as a fraction, read by the same constant
    evaluator that ``validate`` checks it with (so what validates also loads)."""
    from autobot.language.check import ExprCompiler, ExprSite
    t = str(text)
    sink = DiagnosticSink()
    value = ExprCompiler(sink, series=False).constant(ExprSite(t, SourceFile("<share>", t, None), None),
                                                      what="a share")
    if value is None:
        raise ValueError(f"not a share: {t!r}")
    return value


def _inside(path: Path, base: Path) -> bool:
    try:
        _real(path).relative_to(base)
        return True
    except ValueError:
        return False


def load_policy(path: Path) -> CompiledPolicy:
    """Load and compile a policy, its regimes and its strategies; raises :class:`UserError`."""
    ws = Workspace()
    ws.check([path])
    errors = [d for d in ws.diagnostics if d.severity == "error"]
    d = ws.docs.get(_real(path))
    if not errors and (d is None or not isinstance(d.model, PolicyDocument)):
        source = d.source if d is not None else SourceFile(display_path(path), "", None)
        errors.append(source.diagnostic(0, 1, "wrong-document", "expected a policy document",
                                        "pass policy.yaml (a document with 'policy:' and 'allocations:')"))
    if errors:
        raise UserError(errors)
    assert d is not None and isinstance(d.model, PolicyDocument)
    pol = d.model
    regimes = ws.regimes[_real(_real(path).parent / pol.regimes)]
    ids = [loaded.model.strategy for f in Workspace._policy_strategy_files(_real(path).parent, pol)
           if (loaded := ws.docs.get(_real(f))) is not None and isinstance(loaded.model, StrategyDocument)]
    strategies = {sid: ws.strategies[sid] for sid in ids if sid in ws.strategies}
    allocations = {regime: {name: share_value(v) for name, v in shares.items()}
                   for regime, shares in pol.allocations.items()}
    priors = {}
    if pol.evidence_priors:                  # checked by validate above: each reads
        from autobot.documents.priors import read_prior
        priors = {sid: read_prior(_real(path).parent / file) for sid, file in pol.evidence_priors.items()}
    return CompiledPolicy(path, pol, regimes, strategies, allocations, priors)
