"""Compile validated documents into what the evaluators and engines run.

``compile_strategy`` and ``compile_regimes`` produce a :class:`Plan` with named
indicator columns and rules; ``check_policy`` checks a policy's cross-references
(strategies, regimes, shares). All of them report into a :class:`DiagnosticSink`
and keep going, so one run reports every error of every file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from autobot.diagnostics import Diagnostic, DiagnosticSink, UserError, did_you_mean
from autobot.documents.load import SourceFile, YNode, load_text
from autobot.documents.validate import validate_document
from autobot.documents.models import ParamSpec, PolicyDocument, RegimesDocument, StrategyDocument
from autobot.language import ast
from autobot.language import plan as P
from autobot.language.check import ExprCompiler, ExprSite, Value
from autobot.language.constraints import Constraints, compile_constraints
from autobot.language.parse import ParseError, parse_expression

RULE_SIDES = ("entry.long", "entry.short", "exit.long", "exit.short")
METRIC_NAMES = ("total_return", "annual_return", "sharpe", "sortino", "max_drawdown", "win_rate",
                "profit_factor", "trades", "exposure", "days", "tracking_error", "slippage_bps", "fill_ratio",
                "breaker_trips")
_UNITS = {"s": ("SECOND", 1), "m": ("MINUTE", 60), "h": ("HOUR", 3600), "d": ("DAY", 86400), "w": ("WEEK", 604800)}
_SPEC_UNITS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400, "WEEK": 604800}


@dataclass(frozen=True)
class BarSpec:
    """A bar size: step and aggregation unit, plus Nautilus' price type."""

    step: int
    unit: str            # SECOND MINUTE HOUR DAY WEEK
    price_type: str      # LAST BID ASK MID

    @property
    def seconds(self) -> int:
        return self.step * _SPEC_UNITS[self.unit]

    def nautilus(self) -> str:
        """Nautilus' bar specification text, e.g. ``1-HOUR-LAST``."""
        return f"{self.step}-{self.unit}-{self.price_type}"


def parse_bar_spec(text: str) -> BarSpec | None:
    """``1h``, ``15m``, ``1d`` or ``1-HOUR-LAST``; None when not a bar size."""
    t = text.strip()
    m = re.fullmatch(r"(\d+)([smhdw])", t)
    if m and int(m.group(1)) > 0:
        unit, _ = _UNITS[m.group(2)]
        return BarSpec(int(m.group(1)), unit, "LAST")
    m = re.fullmatch(r"(\d+)-(SECOND|MINUTE|HOUR|DAY|WEEK)-(LAST|BID|ASK|MID)", t)
    if m and int(m.group(1)) > 0:
        return BarSpec(int(m.group(1)), m.group(2), m.group(3))
    return None


@dataclass(frozen=True)
class PriceLevel:
    """A stop or target: a fraction of the entry price (``percent``) or a price distance node."""

    kind: str                 # "percent" or "distance"
    node: int | None = None   # distance: plan node
    fraction: float | None = None


@dataclass
class CompiledStrategy:
    """A strategy ready to evaluate: its plan, params, rules and risk settings."""

    id: str
    source: SourceFile
    document: StrategyDocument
    params: dict[str, float]
    plan: P.Plan
    bar: BarSpec | None
    stop_loss: PriceLevel | None = None
    take_profit: PriceLevel | None = None
    trailing_stop: PriceLevel | None = None
    sizing: tuple[str, float] = ("equity_pct", 1.0)
    confidence: int | None = None
    quote: dict[str, int] = field(default_factory=dict)
    constraints: Constraints = field(default_factory=Constraints)   # between params (``constraints:``)

    @property
    def rules(self) -> dict[str, int]:
        return self.plan.rules

    def reported_nodes(self) -> set[int]:
        """Nodes a running strategy reads besides its rules: named indicators and risk distances."""
        levels = (self.stop_loss, self.take_profit, self.trailing_stop)
        nodes = set(self.plan.named.values()) | {lv.node for lv in levels if lv is not None and lv.node is not None}
        if self.confidence is not None:
            nodes.add(self.confidence)
        return nodes

    def use_diagnostic(self, names: tuple[str, ...], code: str, message: str, hint: str,
                       severity: str = "error") -> Diagnostic:
        """A diagnostic at the first place the document's expressions read one of ``names`` (its
        first line when none is found)."""
        import re
        source = self.source
        starts = [node.start for key in ("indicators", "ml", "entry", "exit", "filters", "risk", "sizing",
                                         "confidence", "quote")
                  for node, found in [source.node_at((key,))] if found and node is not None]
        body = min(starts) if starts else 0
        match = re.search(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b", source.text[body:])
        at, end = (body + match.start(), body + match.end()) if match else (0, 1)
        return source.diagnostic(at, end, code, message, hint, severity=severity)

    def warmup(self, name: str) -> int:
        """Warm-up (bars before first possible value) of a rule or indicator column."""
        node = self.plan.rules.get(name, self.plan.named.get(name))
        if node is None:
            raise KeyError(name)
        return self.plan.warmup[node]

    def short_data(self, n_bars: int) -> list[Any]:
        """Errors for rules and risk levels that need more bars than the data has (their warm-up
        reaches past the last of ``n_bars`` bars, so they would never have a value), at the rule."""
        paths = {name: tuple(name.split(".")) for name in self.plan.rules}
        nodes = dict(self.plan.rules)
        for key in ("stop_loss", "take_profit", "trailing_stop"):
            level = getattr(self, key)
            if level is not None and level.node is not None:
                nodes[f"risk.{key}"], paths[f"risk.{key}"] = level.node, ("risk", key)
        out = []
        from autobot.language import ml as L
        for name, model in self.document.ml.items():      # validate checked REFERENCE_BARS bars
            node = self.plan.named.get(name)
            learn = self.plan.nodes[node] if node is not None else None
            if n_bars > L.REFERENCE_BARS and isinstance(learn, P.Learn):
                over = over_budget(name, model.kind, dict(model.params), len(learn.inputs), model.train_bars,
                                   self.plan.warmup[node], model.retrain_every, n_bars)
                where, found = self.source.node_at(over[0]) if over is not None else (None, False)
                if over is not None and where is not None:
                    out.append(self.source.diagnostic(where.start, max(where.end, where.start + 1), "over-budget",
                                                      over[1], over[2]))
        for name, node in nodes.items():
            need = self.plan.warmup[node]
            where, _ = self.source.node_at(paths[name])
            if need >= n_bars and where is not None:
                out.append(self.source.diagnostic(
                    where.start, where.end, "too-long-for-data",
                    f"{name} needs {need + 1:,} bars before its first value (its longest length or period); "
                    f"the data has {n_bars:,} bars at this bar size, so it would never have one",
                    "use more data (or a smaller bar), or shorter lengths and periods"))
        return out


@dataclass
class CompiledRegimes:
    """Regime conditions in order (first match wins), with hysteresis."""

    source: SourceFile
    document: RegimesDocument
    plan: P.Plan
    names: tuple[str, ...]
    confirm_bars: int
    constraints: Constraints = field(default_factory=Constraints)   # between params (``constraints:``)


def _site(source: SourceFile, path: tuple[Any, ...]) -> ExprSite:
    node, found = source.node_at(path)
    assert node is not None and found, path
    return ExprSite.of(source, node)


#: the most values a param's min..max with its step may hold (Optuna searches the grid)
MAX_PARAM_VALUES = 1_000_000


def _params(source: SourceFile, specs: dict[str, ParamSpec], sink: DiagnosticSink,
            overrides: dict[str, float] | None) -> dict[str, float]:
    values: dict[str, float] = {}
    for name, spec in specs.items():
        node, _ = source.node_at(("params", name))
        key = source.node_at(("params",))[0]
        key_node: YNode | None = key.keys.get(name) if key is not None and key.kind == "mapping" else None
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and key_node is not None:
            sink.add(source.diagnostic(key_node.start, key_node.end, "bad-name",
                                       f"param name '{name}' is not a valid name",
                                       "use letters, digits and '_', starting with a letter"))
        target = node
        if node is not None and node.kind == "mapping" and "default" in node.value:
            target = node.value["default"]
        if spec.min is not None and spec.max is not None and spec.min > spec.max and node is not None:
            bad = node.value.get("min", node) if node.kind == "mapping" else node
            sink.add(source.diagnostic(bad.start, bad.end, "param-range",
                                       f"param '{name}': min {spec.min:g} is above max {spec.max:g}",
                                       "swap min and max"))
        elif target is not None and ((spec.min is not None and spec.default < spec.min) or
                                     (spec.max is not None and spec.default > spec.max)):
            lo = "-inf" if spec.min is None else f"{spec.min:g}"
            hi = "inf" if spec.max is None else f"{spec.max:g}"
            sink.add(source.diagnostic(target.start, target.end, "param-range",
                                       f"default {spec.default:g} of param '{name}' is outside its range {lo}..{hi}",
                                       "move the default inside min..max, or widen the range"))
        elif spec.step is not None and spec.min is not None and spec.max is not None and spec.max > spec.min \
                and node is not None and node.kind == "mapping":
            at = node.value.get("step", node)
            span = spec.max - spec.min
            if spec.step > span:
                sink.add(source.diagnostic(at.start, at.end, "param-range",
                                           f"param '{name}': step {spec.step:g} is larger than its range "
                                           f"{spec.min:g}..{spec.max:g}, so optimisation could only try {spec.min:g}",
                                           f"use a step of at most {span:g}"))
            elif span / spec.step > MAX_PARAM_VALUES:
                sink.add(source.diagnostic(at.start, at.end, "param-range",
                                           f"param '{name}': step {spec.step:g} makes {span / spec.step:.3g} values "
                                           f"in {spec.min:g}..{spec.max:g}, above the limit of "
                                           f"{MAX_PARAM_VALUES:,}", f"use a step of at least "
                                           f"{span / MAX_PARAM_VALUES:.3g}, or leave step out"))
        values[name] = spec.default
    params_node = source.node_at(("params",))[0]
    for name, value in (overrides or {}).items():
        if name not in specs:
            root = source.root
            key = root.keys.get("params") if root is not None and root.kind == "mapping" else None
            start, end = (key.start, key.end) if key is not None else (0, 1)
            sink.add(source.diagnostic(start, end, "unknown-param", f"override of unknown param '{name}'"
                                       f"{did_you_mean(name, specs)}", "params: " + (", ".join(specs) or "none")))
            continue
        spec = specs[name]
        if (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
            key_node = params_node.keys.get(name) if params_node is not None and params_node.kind == "mapping" \
                else None
            start, end = (key_node.start, key_node.end) if key_node is not None else (0, 1)
            lo = "-inf" if spec.min is None else f"{spec.min:g}"
            hi = "inf" if spec.max is None else f"{spec.max:g}"
            sink.add(source.diagnostic(start, end, "param-range", f"override {name}={value:g} is outside "
                                       f"{lo}..{hi}, the range param '{name}' declares here",
                                       f"pick a value in {lo}..{hi}, or widen the param's range"))
        values[name] = float(value)
    return values


def _indicator_sites(source: SourceFile, names: dict[str, Any], sink: DiagnosticSink,
                     reserved: set[str]) -> tuple[dict[str, ExprSite], set[str]]:
    """Sites of well-named indicators, and the names rejected (reported once, silent where used)."""
    sites: dict[str, ExprSite] = {}
    rejected: set[str] = set()
    parent = source.node_at(("indicators",))[0]
    for name in names:
        key_node = parent.keys.get(name) if parent is not None and parent.kind == "mapping" else None
        span_node = key_node or parent
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            if span_node is not None:
                sink.add(source.diagnostic(span_node.start, span_node.end, "bad-name",
                                           f"indicator name '{name}' is not a valid name",
                                           "use letters, digits and '_', starting with a letter"))
            rejected.add(name)
            continue
        if name in reserved:
            if span_node is not None:
                sink.add(source.diagnostic(span_node.start, span_node.end, "reserved-name",
                                           f"'{name}' is already a built-in name or a param",
                                           "rename the indicator"))
            rejected.add(name)
            continue
        sites[name] = _site(source, ("indicators", name))
    return sites, rejected


_POSITIONAL = {"equity", "drawdown", "confidence"}


def _compile_models(source: SourceFile, doc: StrategyDocument, compiler: ExprCompiler, sink: DiagnosticSink,
                    taken: set[str]) -> None:
    """The ``ml:`` section: each model's features lowered into the plan and its prediction a
    :class:`~autobot.language.plan.Learn` node, usable by name (docs/ml.md)."""
    from autobot.language import ml as L
    names = list(doc.ml)
    for k, (name, model) in enumerate(doc.ml.items()):
        key = _key(source, ("ml", name))
        where = key if key is not None else source.root

        def error(code: str, message: str, hint: str, path: tuple[Any, ...] | None = None) -> None:
            compiler._indicator_values[name] = None      # rules naming the model: nothing more to report
            node = where
            if path is not None:
                found, ok = source.node_at(path)
                node = found if ok and found is not None else where
            assert node is not None
            sink.add(source.diagnostic(node.start, max(node.end, node.start + 1), code, message, hint))
        if name in taken or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            error("reserved-name", f"'{name}' cannot name a model (a built-in, param or indicator name, or not an "
                  "identifier)", "rename the model")
            continue
        if model.kind == "lstm":
            if not L.torch_available():
                error("missing-dependency", "the lstm kind needs PyTorch (the opt-in lstm extra)",
                      'pip install -e ".[lstm]" (about 4.7 GB on Python 3.12), or use kind: lightgbm or '
                      'kind: linear',
                      ("ml", name, "kind"))
                continue
        if model.kind == "lightgbm":
            try:
                import lightgbm  # noqa: F401
            except ImportError:
                error("missing-dependency", "the lightgbm kind needs the lightgbm package",
                      "pip install lightgbm (AutoBot's set-up installs it)", ("ml", name, "kind"))
                continue
        bad = [p for p in model.params if p not in L.PARAMS[model.kind]]
        if bad:
            k_ = _key(source, ("ml", name, "params", bad[0]))
            if k_ is not None:
                where = k_
            error("unknown-param", f"{model.kind} has no hyperparameter '{bad[0]}'"
                  f"{did_you_mean(bad[0], L.PARAMS[model.kind])}", "known: " + ", ".join(L.PARAMS[model.kind]))
            continue
        out_of_range = [(p, v) for p, v in model.params.items() if not (
            L.BOUNDS[p][0] <= v <= L.BOUNDS[p][1] and (p not in L.INTEGER or float(v).is_integer()))]
        if out_of_range:
            p, v = out_of_range[0]
            lo, hi = L.BOUNDS[p]
            error("bad-param", f"{p} = {v!r} is not {'a whole number ' if p in L.INTEGER else ''}in [{lo:g}, {hi:g}]",
                  f"set {p} within [{lo:g}, {hi:g}]", ("ml", name, "params", p))
            continue
        if model.target.horizon >= model.train_bars:
            error("leaking-horizon", f"target.horizon {model.target.horizon} must be below train_bars "
                  f"{model.train_bars}: every training row's label must be known inside the window",
                  "lower the horizon or train on more bars", ("ml", name, "target", "horizon"))
            continue
        compiler.pending_models = set(names[k:])
        inputs: list[int] = []
        try:
            for j, _ in enumerate(model.features):
                site = _site(source, ("ml", name, "features", j))
                if site.text.count("(") != site.text.count(")"):
                    sink.add(site.diagnostic(ast.Span(0, len(site.text)), "split-feature",
                                             f"'{site.text}' has unbalanced parentheses: in a YAML [a, b] list "
                                             "every comma starts a new item", "quote each feature (\"rsi(close, "
                                             "14)\") or write one '- feature' per line"))
                    continue
                node = compiler.compile(site, expect=None, what="feature")
                if node is None:
                    continue
                if any(isinstance(compiler.plan.nodes[d], P.External) and (
                        compiler.plan.nodes[d].name.startswith("position.") or  # type: ignore[union-attr]
                        compiler.plan.nodes[d].name in _POSITIONAL)  # type: ignore[union-attr]
                       for d in _descendants(compiler.plan, node)):
                    sink.add(site.diagnostic(ast.Span(0, len(site.text)), "position-feature",
                                             "a model's features are market series: this one reads the position "
                                             "or the account", "use prices, volumes and indicators of them"))
                    continue
                inputs.append(node)
        finally:
            compiler.pending_models = set()
        if len(inputs) != len(model.features):
            compiler._indicator_values[name] = None
            continue
        close = compiler.plan.add(P.Source("close"), P.NUMBER, 0)
        start = max(compiler.plan.warmup[j] for j in inputs)
        if model.kind == "lstm":    # a row is the last seq_len rows: the first one all after the warm-up
            start += int(model.params.get("seq_len", L.PARAMS["lstm"]["seq_len"])) - 1
        warm = start + model.train_bars + model.target.horizon + model.embargo - 1
        learn = P.Learn(model.kind, model.target.kind, model.target.horizon, model.train_bars, model.retrain_every,
                        tuple(sorted((p, float(v)) for p, v in model.params.items())), model.seed, start, close,
                        tuple(inputs), model.embargo)
        over = over_budget(name, model.kind, dict(model.params), len(inputs), model.train_bars, warm,
                           model.retrain_every, L.REFERENCE_BARS)
        if over is not None:
            error("over-budget", over[1], over[2], over[0])
            continue
        value = Value(compiler.plan.add(learn, P.NUMBER, warm), P.NUMBER)
        compiler.models[name] = value
        compiler.plan.named[name] = value.node


def over_budget(name: str, kind: str, params: dict[str, float], features: int, train_bars: int, first: int,
                step: int, bars: int) -> tuple[tuple[Any, ...], str, str] | None:
    """(where, message, hint) when model ``name`` is estimated to need more memory for one training
    or more time over ``bars`` bars than its budget (:mod:`autobot.language.ml`, docs/ml.md)."""
    from autobot.language import ml as L
    memory, seconds, lower_memory, lower_time = L.estimate(kind, params, features, train_bars, first, step, bars)
    if memory > L.MEMORY_BUDGET:
        key = next((k for k in ("hidden", "seq_len", "n_estimators", "num_leaves") if k in params), None)
        where = ("ml", name, "params", key) if key is not None else ("ml", name, "train_bars")
        return where, (f"model '{name}' would need an estimated {memory / 1024 ** 3:,.1f} GiB for one training, "
                       f"above the budget of {L.MEMORY_BUDGET / 1024 ** 3:g} GiB"), \
            f"lower {lower_memory} (docs/ml.md, Budgets)"
    if seconds > L.TIME_BUDGET:
        n = L.trainings(bars, first, step)
        return ("ml", name, "retrain_every"), (
            f"model '{name}' would train {n:,} times and take an estimated {seconds:,.0f} s over {bars:,} bars, "
            f"above the budget of {L.TIME_BUDGET:g} s"), f"lower {lower_time} (docs/ml.md, Budgets)"
    return None


def _descendants(plan: P.Plan, node: int) -> set[int]:
    out, todo = set(), [node]
    while todo:
        j = todo.pop()
        if j not in out:
            out.add(j)
            todo.extend(P.children(plan.nodes[j]))
    return out


def _reserved_names(params: dict[str, float]) -> set[str]:
    """Names an indicator or param may not take (function names may be reused: calls are separate)."""
    from autobot.language.check import BUILTIN_NAMES
    return set(BUILTIN_NAMES) | set(params) | {"and", "or", "not"}


def _is_none(text: str) -> bool:
    """``none`` (or YAML's ``off``/``no``/``false``, which arrive as the text ``false``): no level."""
    return text.strip().lower() in ("none", "null", "off", "no", "false", "")


def _price_level(compiler: ExprCompiler, source: SourceFile, path: tuple[str, ...], text: str | None,
                 sink: DiagnosticSink) -> PriceLevel | None:
    if text is None or _is_none(text):
        return None
    site = _site(source, path)
    try:
        tree = parse_expression(text)
    except ParseError as exc:
        sink.add(site.diagnostic(exc.span, "syntax", f"syntax error: {exc.message}", exc.hint))
        return None
    if isinstance(tree, ast.Unary) and tree.op == "-" and isinstance(tree.operand, ast.Number):
        sink.add(site.diagnostic(tree.span, "out-of-range", f"{path[-1]} must be a positive distance, not "
                                 f"{site.text.strip()}", "e.g. 1.5% or '2 * atr(14)'"))
        return None
    if isinstance(tree, ast.Number) and tree.percent:
        if not 0 < tree.value < 1:
            sink.add(site.diagnostic(tree.span, "out-of-range", f"{path[-1]} must be between 0% and 100%",
                                     "e.g. 1.5%"))
            return None
        return PriceLevel("percent", fraction=tree.value)
    node = compiler.compile(site, expect=P.NUMBER, what=f"{path[-1]} (a price distance)")
    if node is None:
        return None
    const = compiler.plan.nodes[node]
    if isinstance(const, P.Const) and not const.value > 0:
        sink.add(site.diagnostic(ast.Span(0, len(text)), "out-of-range",
                                 f"{path[-1]} must be a positive price distance, not {const.value:g}",
                                 "e.g. '2 * atr(14)', a positive number, or a percentage like '2%'"))
        return None
    return PriceLevel("distance", node=node)


def compile_strategy(source: SourceFile, doc: StrategyDocument, sink: DiagnosticSink,
                     overrides: dict[str, float] | None = None,
                     regime_names: tuple[str, ...] | None = None) -> CompiledStrategy | None:
    """Compile a validated strategy document; None when it has errors (reported to ``sink``)."""
    before = sink.errors
    params = _params(source, doc.params, sink, overrides)
    constraints = compile_constraints(source, doc.constraints, params, sink, doc.indicators, overrides or {},
                                      check_values=sink.errors == before)   # a bad value: said once
    reserved = _reserved_names({})
    for name in doc.params:
        if name in reserved:
            node = source.node_at(("params",))[0]
            key = node.keys.get(name) if node is not None else None
            if key is not None:
                sink.add(source.diagnostic(key.start, key.end, "reserved-name",
                                           f"'{name}' is already a built-in name", "rename the param"))
    sites, rejected = _indicator_sites(source, doc.indicators, sink, _reserved_names(params))
    compiler = ExprCompiler(sink, params=params, indicators=sites, regime_names=regime_names, failed=rejected)
    if doc.quote is not None:           # market making: the book, trades and inventory names exist
        compiler.book = True
        compiler.max_inventory = doc.quote.max_inventory
    _compile_models(source, doc, compiler, sink, _reserved_names(params) | set(doc.indicators))
    compiler.compile_indicators()
    bar = parse_bar_spec(doc.market.bar)
    if bar is None:
        node, _ = source.node_at(("market", "bar"))
        assert node is not None
        sink.add(source.diagnostic(node.start, node.end, "bad-bar", f"unknown bar size '{doc.market.bar}'",
                                   "use 1m, 5m, 15m, 1h, 4h, 1d, or a Nautilus spec such as 1-HOUR-LAST"))
    if doc.entry is None and doc.quote is None:
        root = source.root
        assert root is not None
        key = root.keys.get("strategy", root)
        sink.add(source.diagnostic(key.start, key.end, "missing-key", "missing required key 'entry'",
                                   "add 'entry:' with a 'long:' and/or 'short:' condition"))
    for section, sides in (("entry", doc.entry), ("exit", doc.exit)):
        if sides is None:
            continue
        if sides.long is None and sides.short is None:
            node, _ = source.node_at((section,))
            if node is not None:
                sink.add(source.diagnostic(node.start, max(node.end, node.start + 1), "missing-key",
                                           f"'{section}' needs a 'long' or 'short' condition",
                                           f"add '{section}: {{long: ...}}'"))
        for side in ("long", "short"):
            text = getattr(sides, side)
            if text is None:
                continue
            node = compiler.compile(_site(source, (section, side)), expect=P.BOOL, what="rule")
            if node is not None:
                compiler.plan.rules[f"{section}.{side}"] = node
                const = compiler.plan.nodes[node]
                if isinstance(const, P.Const) and const.value is False:
                    where, _ = source.node_at((section, side))
                    assert where is not None
                    sink.add(source.diagnostic(where.start, max(where.end, where.start + 1), "never-fires",
                                               f"{section}.{side} is always false: this rule can never fire", f"write a condition, or remove {section}.{side} "
                                               "(YAML reads a bare no, off and false as false)", severity="warning"))
    if doc.exit is not None and doc.entry is not None:
        for side in ("long", "short"):
            if getattr(doc.exit, side) is not None and getattr(doc.entry, side) is None:
                node, _ = source.node_at(("exit", side))
                assert node is not None
                sink.add(source.diagnostic(node.start, node.end, "unused-exit",
                                           f"exit.{side} is never used: there is no entry.{side}",
                                           f"add entry.{side} or remove exit.{side}", severity="warning"))
    confidence = None
    if doc.confidence is not None:
        confidence = compiler.compile(_site(source, ("confidence",)), expect=P.BOOL, what="confidence")
        if confidence is not None:
            compiler.plan.rules["confidence"] = confidence
    quote = _compile_quote(compiler, source, doc, sink) if doc.quote is not None else {}
    levels = {name: _price_level(compiler, source, ("risk", name), getattr(doc.risk, name), sink)
              for name in ("stop_loss", "take_profit", "trailing_stop")}
    sizing = _sizing(compiler, source, doc, levels["stop_loss"], sink)
    if sink.errors > before:            # counted even past the diagnostics a file keeps
        return None
    return CompiledStrategy(doc.strategy, source, doc, params, compiler.plan, bar, levels["stop_loss"],
                            levels["take_profit"], levels["trailing_stop"], sizing, confidence, quote, constraints)


_QUOTE_NUMBERS = ("bid_price", "ask_price", "bid_size", "ask_size", "level_step", "tolerance", "min_spread",
                  "take_size")
_QUOTE_RULES = ("stand_aside", "take_buy", "take_sell")
_QUOTE_PAIRS = (("bid_price", "bid_size"), ("ask_price", "ask_size"), ("bid_size", "bid_price"),
                ("ask_size", "ask_price"), ("take_buy", "take_size"), ("take_sell", "take_size"))


def _compile_quote(compiler: ExprCompiler, source: SourceFile, doc: StrategyDocument,
                   sink: DiagnosticSink) -> dict[str, int]:
    """The ``quote:`` section: each expression a plan node (numbers, or conditions for
    ``stand_aside`` and the takes), over the book, trades and inventory names."""
    q = doc.quote
    assert q is not None
    where = _key(source, ("quote",)) or source.root
    assert where is not None
    if doc.entry is not None or doc.exit is not None:
        sink.add(source.diagnostic(where.start, where.end, "quote-and-entry", "a strategy either quotes (quote:) "
                                   "or trades rules (entry:/exit:), not both", "keep one of them"))
    given = {k for k in _QUOTE_NUMBERS + _QUOTE_RULES if getattr(q, k) is not None}
    for have, need in _QUOTE_PAIRS:
        if have in given and need not in given:
            k_ = _key(source, ("quote", have)) or where
            sink.add(source.diagnostic(k_.start, k_.end, "missing-key", f"quote.{have} needs quote.{need}",
                                       f"add {need}: ..."))
    if not given & {"bid_price", "ask_price", "take_buy", "take_sell"}:
        sink.add(source.diagnostic(where.start, where.end, "missing-key", "quote: needs bid_price/ask_price (with "
                                   "their sizes) or take_buy/take_sell (with take_size)",
                                   "e.g. bid_price: book.bid, bid_size: 0.01"))
    if q.take_size is not None and not given & {"take_buy", "take_sell"}:
        k_ = _key(source, ("quote", "take_size")) or where
        sink.add(source.diagnostic(k_.start, k_.end, "unused-key", "quote.take_size is never used: there is no "
                                   "take_buy or take_sell", "add a take rule or remove take_size", severity="warning"))
    out: dict[str, int] = {}
    for key in _QUOTE_NUMBERS + _QUOTE_RULES:
        if key not in given:
            continue
        expect = P.BOOL if key in _QUOTE_RULES else P.NUMBER
        compiled = compiler.compile(_site(source, ("quote", key)), expect=expect, what=f"quote {key}")
        if compiled is not None:
            out[key] = compiled
            if expect == P.BOOL:
                compiler.plan.rules[f"quote.{key}"] = compiled
    return out


def _sizing(compiler: ExprCompiler, source: SourceFile, doc: StrategyDocument, stop: PriceLevel | None,
            sink: DiagnosticSink) -> tuple[str, float]:
    given = [(k, v) for k, v in doc.sizing.model_dump().items() if v is not None]
    if not given:
        return ("equity_pct", 1.0)
    if len(given) > 1:
        node, _ = source.node_at(("sizing", given[1][0]))
        assert node is not None
        sink.add(source.diagnostic(node.start, node.end, "sizing-conflict",
                                   f"sizing takes exactly one method, got {', '.join(k for k, _ in given)}",
                                   "keep one of risk_per_trade, equity_pct, fixed_qty"))
        return ("equity_pct", 1.0)
    method, _ = given[0]
    site = _site(source, ("sizing", method))
    value = compiler.constant(site, what=f"sizing.{method}")
    if value is None:
        return ("equity_pct", 1.0)
    limit = {"risk_per_trade": 1.0, "equity_pct": 10.0, "fixed_qty": float("inf")}[method]
    span = ast.Span(0, len(site.text))
    bare = method != "fixed_qty" and "%" not in site.text      # a fraction: 0.5 is 50%
    looks_like_percent = bare and value >= (0.1 if method == "risk_per_trade" else 2.0)
    hint = f"write {value:g}% for {value:g} percent" if looks_like_percent else \
        ("e.g. risk_per_trade: 0.5%" if method == "risk_per_trade" else "e.g. equity_pct: 50%")
    if not 0 < value <= limit:
        shown = "100%" if method == "risk_per_trade" else ("1000%" if method == "equity_pct" else "any size")
        sink.add(site.diagnostic(span, "out-of-range",
                                 f"sizing.{method} must be above 0 and at most {shown}, got {value:g}", hint))
    elif looks_like_percent:
        sink.add(site.diagnostic(span, "sizing-fraction",
                                 f"sizing.{method}: {site.text.strip()} is a fraction, i.e. {value:.0%} of equity"
                                 + (" at risk per trade" if method == "risk_per_trade" else ""),
                                 hint, severity="warning"))
    if method == "risk_per_trade" and (doc.risk.stop_loss is None or _is_none(doc.risk.stop_loss)):
        sink.add(site.diagnostic(ast.Span(0, len(site.text)), "needs-stop",
                                 "risk_per_trade sizes by the stop distance, but risk.stop_loss is not set",
                                 "set risk.stop_loss (e.g. '2 * atr(14)') or use equity_pct"))
    return (method, value)


def compile_regimes(source: SourceFile, doc: RegimesDocument, sink: DiagnosticSink) -> CompiledRegimes | None:
    """Compile a regimes document: each regime's condition becomes rule ``regime.<name>``."""
    before = sink.errors
    params = _params(source, doc.params, sink, None)
    constraints = compile_constraints(source, doc.constraints, params, sink, doc.indicators,
                                      check_values=sink.errors == before)
    sites, rejected = _indicator_sites(source, doc.indicators, sink, _reserved_names(params))
    compiler = ExprCompiler(sink, params=params, indicators=sites, regime_names=tuple(doc.regimes),
                            failed=rejected)
    compiler.forbidden = {"regime": "a regime condition cannot use 'regime' itself",
                          "position": "regimes describe the market; position is not available here",
                          "equity": "regimes describe the market; equity is not available here",
                          "drawdown": "regimes describe the market; drawdown is not available here"}
    compiler.compile_indicators()
    for name in doc.regimes:
        node = compiler.compile(_site(source, ("regimes", name)), expect=P.BOOL, what="regime condition")
        if node is not None:
            compiler.plan.rules[f"regime.{name}"] = node
    if doc.market is not None and doc.market.bar is not None and parse_bar_spec(doc.market.bar) is None:
        node, _ = source.node_at(("market", "bar"))
        assert node is not None
        sink.add(source.diagnostic(node.start, node.end, "bad-bar", f"unknown bar size '{doc.market.bar}'",
                                   "use 1m, 5m, 15m, 1h, 4h, 1d, or a Nautilus spec such as 1-HOUR-LAST"))
    if sink.errors > before:
        return None
    return CompiledRegimes(source, doc, compiler.plan, tuple(doc.regimes), doc.confirm_bars, constraints)


def check_policy(source: SourceFile, doc: PolicyDocument, sink: DiagnosticSink,
                 strategy_ids: set[str] | None, regime_names: tuple[str, ...] | None) -> None:
    """Check a policy's shares, strategies, regimes and challenge condition."""
    compiler = ExprCompiler(sink, series=False)
    for regime, shares in doc.allocations.items():
        key = _key(source, ("allocations", regime))
        if regime_names is not None and regime not in regime_names and key is not None:
            sink.add(source.diagnostic(key.start, key.end, "unknown-regime",
                                       f"unknown regime '{regime}'{did_you_mean(regime, regime_names)}",
                                       "regimes defined: " + ", ".join(regime_names)))
        total = 0.0
        for strategy, share_text in shares.items():
            skey = _key(source, ("allocations", regime, strategy))
            if strategy_ids is not None and strategy not in strategy_ids and skey is not None:
                sink.add(source.diagnostic(skey.start, skey.end, "unknown-strategy",
                                           f"unknown strategy '{strategy}'{did_you_mean(strategy, strategy_ids)}",
                                           "strategies found: " + (", ".join(sorted(strategy_ids)) or "none")))
            site = _site(source, ("allocations", regime, strategy))
            share = compiler.constant(site, what="a share")
            if share is None:
                continue
            if not 0 <= share <= 1:
                sink.add(site.diagnostic(ast.Span(0, len(site.text)), "out-of-range",
                                         f"share {share:.4g} of '{strategy}' must be between 0% and 100%",
                                         "write a percentage like 60% or a fraction like 0.6"))
            total += share
        if total > 1 + 1e-9 and key is not None:
            sink.add(source.diagnostic(key.start, key.end, "allocation-sum",
                                       f"shares in regime '{regime}' add up to {total * 100:.4g}%, above 100%",
                                       "lower the shares so they sum to 100% or less"))
    if regime_names is not None:
        for regime in regime_names:
            if regime not in doc.allocations:
                node = _key(source, ("allocations",))
                if node is not None:
                    sink.add(source.diagnostic(node.start, node.end, "no-allocation",
                                               f"regime '{regime}' has no allocation: AutoBot stands aside in it",
                                               f"add '{regime}: {{}}' to say so explicitly", severity="warning"))
    for name in ("max_drawdown", "daily_loss_limit", "max_gross_exposure", "max_net_exposure", "max_position"):
        if getattr(doc.risk, name) is None:
            continue
        site = _site(source, ("risk", name))
        value = compiler.constant(site, what=f"risk.{name}")
        upper = 10.0 if name in ("max_gross_exposure", "max_net_exposure") else 1.0
        if value is not None and not 0 < value <= upper:
            sink.add(site.diagnostic(ast.Span(0, len(site.text)), "out-of-range",
                                     f"risk.{name} must be above 0% and at most {upper * 100:g}%, got {value:.4g}",
                                     "write a percentage like 5%"))
    if doc.live is not None:
        for key in ("api_key_env", "api_secret_env"):
            name = getattr(doc.live, key)
            if not re.fullmatch(r"AUTOBOT_[A-Z0-9_]+", name) or "TELEGRAM" in name:
                node_, found_ = source.node_at(("live", key))
                where = node_ if found_ and node_ is not None else source.root
                assert where is not None
                sink.add(source.diagnostic(where.start, where.end, "credential-name",
                                           f"live.{key} may only name an AUTOBOT_ variable (not {name!r})",
                                           "credentials come from AUTOBOT_* variables, never the Telegram "
                                           "token: e.g. AUTOBOT_BINANCE_KEY"))
    if doc.self_optimize is not None and doc.self_optimize.strategies and strategy_ids is not None:
        for k, name in enumerate(doc.self_optimize.strategies):
            if name not in strategy_ids:
                node_, found_ = source.node_at(("self_optimize", "strategies", k))
                if found_ and node_ is not None:
                    sink.add(source.diagnostic(node_.start, node_.end, "unknown-strategy",
                                               f"unknown strategy '{name}'{did_you_mean(name, strategy_ids)}",
                                               "strategies found: " + (", ".join(sorted(strategy_ids)) or "none")))
    for k, _ in enumerate(doc.challenge.stages):
        _share_in_range(source, compiler, sink, ("challenge", "stages", k, "capital"), "a stage's capital")
    for name in ("max_tracking_error", "min_fill_ratio", "max_drift"):
        _share_in_range(source, compiler, sink, ("challenge", "checks", name), f"challenge.checks.{name}")
    node, found = source.node_at(("challenge", "promote_when"))
    if found and node is not None:
        metrics = ExprCompiler(sink, scalars={m: P.NUMBER for m in METRIC_NAMES}, series=False)
        metrics.compile(ExprSite.of(source, node), expect=P.BOOL, what="promote_when condition")


def _share_in_range(source: SourceFile, compiler: ExprCompiler, sink: DiagnosticSink, path: tuple[Any, ...],
                    what: str) -> None:
    node, found = source.node_at(path)
    if not found or node is None:
        return
    site = _site(source, path)
    value = compiler.constant(site, what=what)
    if value is not None and not 0 < value <= 1:
        sink.add(site.diagnostic(ast.Span(0, len(site.text)), "out-of-range",
                                 f"{what} must be above 0% and at most 100%, got {value:.4g}",
                                 "write a percentage like 10%"))


def _key(source: SourceFile, path: tuple[Any, ...]) -> YNode | None:
    parent, found = source.node_at(path[:-1])
    if found and parent is not None and parent.kind == "mapping":
        return parent.keys.get(str(path[-1]))
    return None


def compile_strategy_text(text: str, name: str, overrides: dict[str, float] | None = None) -> CompiledStrategy:
    """Compile a strategy document given as text (``name`` is shown in diagnostics)."""
    source = load_text(text, name)
    model, diagnostics = validate_document(source)
    errors = [d for d in diagnostics if d.severity == "error"]
    if model is not None and not isinstance(model, StrategyDocument):
        errors.append(source.diagnostic(0, 1, "wrong-document", "expected a strategy document",
                                        "pass a file from strategies/"))
    if errors or model is None:
        raise UserError(errors or diagnostics)
    sink = DiagnosticSink()
    compiled = compile_strategy(source, model, sink, overrides=overrides)
    if compiled is None or sink.has_errors:
        raise UserError([x for x in sink.items if x.severity == "error"] + sink.notes())
    return compiled
