"""``autobot optimize``: a walk-forward study of a strategy's params (docs/optimize.md)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from autobot.cli.backtest import load_inputs
from autobot.cli.inputs import check_currency, check_ranges
from autobot.cli.output import check_output_path, fail_usage, fail_user, metrics_table, num, writing, write_json


def optimize(
    strategy: Optional[Path] = typer.Argument(None, help="Strategy document (YAML) whose params: ranges to search."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="Study the whole portfolio of this policy: its "
                                          "strategies' and regimes' params together (trials on the fast engine, finalists confirmed on "
                                          "NautilusTrader)."),
    only: Optional[str] = typer.Option(None, "--only", help="With --policy: search one document's params only (a "
                                       "strategy id, or 'regimes')."),
    data: list[str] = typer.Option([], "--data", help="Bars: FILE or INSTRUMENT_ID=FILE (default: the example data)."),
    universe: list[str] = typer.Option([], "--universe", help="With --policy: trade every strategy on these "
                                       "markets instead of the policy's universe: a folder of bar files, files "
                                       "(aapl_1d.csv is AAPL on the policy's venue) or ID=FILE (repeatable)."),
    catalog: Optional[Path] = typer.Option(None, "--catalog", help="A NautilusTrader ParquetDataCatalog folder."),
    start: Optional[str] = typer.Option(None, "--start", help="First bar (ISO date or date-time, UTC)."),
    end: Optional[str] = typer.Option(None, "--end", help="Stop before this time (ISO date or date-time, UTC)."),
    objective: str = typer.Option("sharpe", "--objective", help="sharpe, sortino, calmar, annual_return, or "
                                  "seed_bar (Sharpe subject to max drawdown <= the limit)."),
    trials: int = typer.Option(100, "--trials", help="Trials per window."),
    sampler: str = typer.Option("tpe", "--sampler", help="tpe (Optuna's TPE, the default) or random."),
    seed: int = typer.Option(42, "--seed", help="Seed of the sampler: the same seed gives the same study."),
    windows: int = typer.Option(5, "--windows", help="Walk-forward windows."),
    train_ratio: float = typer.Option(3.0, "--train-ratio", help="Train window length over test window length."),
    purge: Optional[int] = typer.Option(None, "--purge", help="Bars skipped between each train and test window "
                                        "(default: the strategy's longest warm-up)."),
    anchored: bool = typer.Option(False, "--anchored", help="Train windows all start at the first bar."),
    no_walk_forward: bool = typer.Option(False, "--no-walk-forward", help="One in-sample study of all bars "
                                         "(reported as in-sample; never significant)."),
    folds: int = typer.Option(3, "--folds", help="Folds of each train window (a hopeless trial stops after one)."),
    min_trades: Optional[int] = typer.Option(None, "--min-trades", help="Trades a trial needs in its train window "
                                             "to score (default: one per 500 bars, at least 5)."),
    max_drawdown: Optional[float] = typer.Option(None, "--max-drawdown", help="seed_bar's drawdown limit as a "
                                                 "fraction (default: with --policy its risk.max_drawdown, "
                                                 "else 0.05, the seed's bar)."),
    batch: int = typer.Option(8, "--batch", help="Trials sampled together (part of the seed: results do not "
                                                 "depend on --workers)."),
    confirm: int = typer.Option(3, "--confirm", help="Top trials re-run on NautilusTrader (0: none)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Parallel workers on a local Ray instance "
                                          "(default: 1, in this process; Ray is the 'distributed' extra)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Run the trials on this Ray cluster."),
    journal: Optional[Path] = typer.Option(None, "--journal", help="Optuna journal file (default: next to --json "
                                           "or --report, else STRATEGY.optuna.journal)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the study in the journal where it stopped."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the study's results as JSON here."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write a self-contained HTML report here."),
    apply: bool = typer.Option(False, "--apply", help="Write the chosen params as the document's defaults "
                               "(only for a significant verdict, unless --force)."),
    force: bool = typer.Option(False, "--force", help="With --apply: apply whatever the verdict."),
    state: Optional[Path] = typer.Option(None, "--state", help="With --apply: the SQLite journal that keeps the "
                                         "versions 'autobot rollback' restores (default: the project's)."),
    capital: float = typer.Option(100_000.0, "--capital", help="Starting capital, in the quote currency."),
    account: Optional[str] = typer.Option(None, "--account", help="margin (long and short) or cash (long only); "
                                          "default margin, with --policy the policy's account:."),
    leverage: float = typer.Option(1.0, "--leverage", help="Account leverage (margin accounts)."),
    instrument: Optional[str] = typer.Option(None, "--instrument", help="Trade this instrument id instead."),
    currency: str = typer.Option("USD", "--currency", help="Quote currency of non-FX, non-crypto instruments."),
    price_precision: Optional[int] = typer.Option(None, "--price-precision", help="Decimals of prices."),
    size_precision: Optional[int] = typer.Option(None, "--size-precision", help="Decimals of quantities."),
    maker_fee: Optional[float] = typer.Option(None, "--maker-fee", help="Maker fee as a fraction."),
    taker_fee: Optional[float] = typer.Option(None, "--taker-fee", help="Taker fee as a fraction."),
    regimes: Optional[Path] = typer.Option(None, "--regimes", help="Regimes document for a strategy that reads "
                                           "'regime'."),
) -> None:
    """Search a strategy's params walk-forward; report only out-of-sample evidence, with DSR, PBO and a verdict."""
    from autobot.diagnostics import RunError, UserError
    from autobot.optimize import study as ST
    from autobot.optimize.windows import WindowError

    if strategy is None and policy is None:
        raise fail_usage("give a strategy document (or --policy POLICY.yaml)")
    if strategy is not None and policy is not None:
        raise fail_usage("give a strategy document or --policy, not both")
    if only is not None and policy is None:
        raise fail_usage("--only goes with --policy")
    if account not in (None, "margin", "cash"):
        raise fail_usage("--account must be 'margin' or 'cash'")
    if objective not in ST.OBJECTIVES:
        raise fail_usage(f"--objective {objective!r}: give one of {', '.join(ST.OBJECTIVES)}")
    if sampler not in ST.SAMPLERS:
        raise fail_usage(f"--sampler {sampler!r}: give one of {', '.join(ST.SAMPLERS)}")
    for name, value, low in (("--trials", trials, 1), ("--windows", windows, 1), ("--folds", folds, 1),
                             ("--batch", batch, 1), ("--confirm", confirm, 0), ("--purge", purge, 0),
                             ("--min-trades", min_trades, 0), ("--workers", workers, 1)):
        if value is not None and not low <= value <= 100_000:
            raise fail_usage(f"{name} {value}: give a whole number from {low} up to 100000")
    if not (math.isfinite(train_ratio) and 0 < train_ratio <= 100):
        raise fail_usage(f"--train-ratio {train_ratio:g}: give a number above 0 up to 100")
    if max_drawdown is not None and not (math.isfinite(max_drawdown) and 0 < max_drawdown <= 1):
        raise fail_usage(f"--max-drawdown {max_drawdown:g}: give a fraction above 0 up to 1 (0.05 is 5%)")
    if force and not apply:
        raise fail_usage("--force only goes with --apply")
    check_executor(workers, ray_address)
    check_ranges({"--capital": capital, "--leverage": leverage, "--maker-fee": maker_fee, "--taker-fee": taker_fee,
                  "--price-precision": price_precision, "--size-precision": size_precision})
    currency = check_currency(currency)
    document = policy if policy is not None else strategy
    assert document is not None
    check_output_path("--json", json_out)
    check_output_path("--report", report)
    journal_path = journal or _default_journal(document, json_out, report)
    check_output_path("--journal", journal_path, stream_ok=False)     # read back on --resume: a regular file
    if resume:
        try:
            ST.check_journal(journal_path)
        except ST.JournalError as err:
            typer.echo(f"error: --resume: {err}", err=True)
            raise typer.Exit(1) from None
    if apply:
        _check_apply_target(document)
    if universe and policy is None:
        raise fail_usage("--universe goes with --policy (a policy's strategies run on every market of it)")
    vopts = dict(capital=capital, account=account, leverage=leverage, slippage=0.0, price_precision=price_precision,
                 size_precision=size_precision, maker_fee=maker_fee, taker_fee=taker_fee, currency=currency)
    if policy is not None:
        from autobot.cli.backtest_policy import policy_inputs
        compiled_policy, series, venue, settings = policy_inputs(policy, data, catalog,
                                                                 {**vopts, "start": start, "end": end,
                                                                  "universe": universe})
        if max_drawdown is None:              # seed_bar's limit: the policy's own breaker
            from autobot.portfolio.limits import limits_of
            max_drawdown = limits_of(compiled_policy).max_drawdown
    else:
        if not document.is_file():
            raise fail_usage(f"no such strategy file: {document}")
        compiled, bars, venue, settings, iid, compiled_regimes = load_inputs(
            document, {}, instrument, data, catalog, start, end, regimes, vopts)
        if compiled_regimes is not None:
            raise fail_usage(f"{document} reads 'regime': optimise it within its policy (optimize --policy), "
                             "where the regimes come from")
    from autobot.fast.program import Unsupported
    options = ST.Options(objective=objective, trials=trials, sampler=sampler, seed=seed,
                         walk_forward=not no_walk_forward, windows=windows, ratio=train_ratio, purge=purge,
                         anchored=anchored, folds=folds, min_trades=min_trades, batch=batch,
                         limits=ST.seed_bar_limits(max_drawdown), venue=venue, instrument=settings)
    try:
        if policy is not None:
            plan = ST.plan_policy(policy, series, options, only,
                                  universe=compiled_policy.document.universe if universe else None)
        else:
            plan = ST.plan(document.read_text(encoding="utf-8"), str(document), bars, options)
    except UserError as err:
        raise fail_user(err.diagnostics) from None
    except (WindowError, ValueError) as err:
        raise fail_usage(str(err)) from None
    except Unsupported as err:
        typer.echo(f"error: {document}: trials run on the fast engine, which cannot reproduce this strategy "
                   f"exactly: {err}", err=True)
        raise typer.Exit(1) from None
    from autobot.optimize.executor import make_executor
    from autobot.optimize.robustness import analyse
    from autobot.optimize.verdict import assess
    executor = make_executor(workers, ray_address)
    try:
        result = _run_with_progress(lambda progress: ST.run(plan, executor, journal_path, resume, progress),
                                    options.trials * len(plan.windows))
        stats_ = assess(result)
        extra = analyse(result, executor, confirm)
    except ST.StudyExists as err:
        raise fail_usage(str(err)) from None
    except ST.JournalError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    except RunError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    finally:
        executor.close()
    from autobot.optimize.output import study_json
    doc = study_json(result, stats_, extra, journal_path, executor.where)
    _print(result, doc)
    if json_out is not None:
        write_json(json_out, doc)
    if report is not None:
        from autobot.report.optimize_html import write_study_report
        with writing("--report", report):
            write_study_report(result, doc, extra, report)
        typer.echo(f"wrote {report}", err=True)
    if apply:
        _apply(plan, document, doc, force, state)


def check_executor(workers: Optional[int], address: Optional[str]) -> None:
    """Where the trials would run is checked before any data is read: Ray installed when it is
    asked for, a local pool no larger than the machine, a cluster address that answers (3 s)."""
    import os
    import re
    import socket
    cores = os.cpu_count() or 1
    if address is None:
        if workers is not None and workers > cores:
            raise fail_usage(f"--workers {workers}: this machine has {cores} cores; give at most {cores} "
                             "(or --ray-address to run on a cluster)")
    else:
        text = address.strip()
        m = re.fullmatch(r"(?:ray://)?([A-Za-z0-9][A-Za-z0-9.\-]{0,252}|\[[0-9A-Fa-f:]{2,39}\]):([0-9]{1,5})", text)
        if m is None or not 0 < int(m.group(2)) < 65536:
            raise fail_usage(f"--ray-address {address!r}: give HOST:PORT of a running Ray head "
                             "(`ray start --head` prints it), e.g. 127.0.0.1:6379")
        host, port = m.group(1).strip("[]"), int(m.group(2))
        try:
            socket.create_connection((host, port), timeout=3).close()
        except OSError as err:
            raise fail_usage(f"--ray-address {text}: nothing answers at {host}:{port} "
                             f"({err.strerror or err}); start the head with `ray start --head`, or leave "
                             "--ray-address out to run here") from None
    if address is not None or (workers or 1) > 1:
        from autobot.optimize.executor import RayMissing, ray_module
        try:
            ray_module()
        except RayMissing as err:
            raise fail_usage(str(err)) from None


def _default_journal(strategy: Path, json_out: Optional[Path], report: Optional[Path]) -> Path:
    near = json_out or report
    if near is not None:
        return near.with_suffix(".optuna.journal")
    return strategy.with_suffix(".optuna.journal")


def _apply(plan: Any, document: Path, doc: dict[str, Any], force: bool, state: Optional[Path]) -> None:
    """The chosen params as the documents' new defaults, through the hot-reload path: each edit
    compiled and checked before anything is written, the change shown, both versions kept in the
    journal (``autobot rollback`` restores the previous one), each file replaced atomically (a
    running node reloads it)."""
    import os

    from autobot.diagnostics import UserError
    from autobot.language.compile import compile_strategy_text
    from autobot.language.diff import document_diff
    from autobot.optimize import space as SP
    from autobot.optimize.apply import ApplyRefused, check_regimes_text, set_defaults
    from autobot.persistence.journal import Journal, StateStoreError
    from autobot.safeio import output_problem
    from autobot.workspace import find_project_root
    studied = _studied_texts(plan, document)
    edited = [p for p, text in studied.items() if _text_or_none(p) != text]
    if edited and not force:
        typer.echo(f"error: --apply refused: {edited[0]} was edited while the study ran, and the params were chosen "
                   "for the text it had when the study started; nothing was written (run the study again, or pass "
                   "--force to write them into the edited document)", err=True)
        raise typer.Exit(1)
    if doc["verdict"] != "significant" and not force:
        typer.echo(f"error: --apply refused: the verdict is '{doc['verdict']}', not 'significant' "
                   f"({'; '.join(doc['reasons'])}); pass --force to apply anyway", err=True)
        raise typer.Exit(1)
    if doc["best_params"] is None:
        typer.echo("error: --apply: no trial scored, there are no params to apply", err=True)
        raise typer.Exit(1)
    by_owner = SP.overrides(plan.dims, {k: float(v) for k, v in doc["best_params"].items()})
    if plan.policy is None:
        targets = [(document, "strategy", plan.target, by_owner.get(plan.target, {}))]
    else:
        base = document.resolve().parent
        rel = dict(plan.policy.owners)
        targets = [(base / rel[owner], "regimes" if owner == "regimes" else "strategy", owner, values)
                   for owner, values in by_owner.items()]
    edits = []
    for given, kind, owner, values in targets:
        path = Path(os.path.realpath(given))    # a symbolic link: write through it to its target, keep the link
        problem = output_problem(path, stream_ok=False)
        if problem is not None:
            typer.echo(f"error: --apply: {given} {problem[0]}; nothing was written (make it writable with chmod u+w "
                       f"{given}, then run the same command with --resume)", err=True)
            raise typer.Exit(1)
        old = path.read_text(encoding="utf-8")
        if studied.get(path) is not None and old != studied[path]:
            typer.echo(f"note: {given} was edited while the study ran; --force: the chosen params are written into "
                       "the edited text (its other changes kept)", err=True)
        by = {d.param: d for d in plan.dims if d.owner == owner}
        shown = {k: (int(round(v)) if by[k].integer else SP.tidy(v)) for k, v in values.items()}
        try:
            new = set_defaults(old, str(given), shown)
            if kind == "strategy":
                change = document_diff(compile_strategy_text(old, str(given)), compile_strategy_text(new, str(given)))
            else:
                check_regimes_text(new, str(given))
                change = ", ".join(f"param {k} -> {v}" for k, v in shown.items())
        except ApplyRefused as err:
            typer.echo(f"error: --apply: {err}", err=True)
            raise typer.Exit(1) from None
        except UserError as err:
            raise fail_user(err.diagnostics, {str(given): new}) from None
        if new != old:
            edits.append((given, path, old, new, change))
    if not edits:
        typer.echo(f"{document}: the chosen params are already the defaults", err=True)
        return
    store = state or (find_project_root(document.parent) / ".autobot" / "state.sqlite")
    try:
        journal = Journal(store)
    except StateStoreError as err:
        typer.echo(f"error: --apply: {err}", err=True)
        raise typer.Exit(1) from None
    try:
        for given, path, old, new, change in edits:
            journal.version(str(path), old)
            _replace(path, new)
            sha = journal.version(str(path), new)
            journal.event("apply", None, plan.target, file=str(path.resolve()), change=change, to=sha,
                          verdict=doc["verdict"], forced=doc["verdict"] != "significant")
            typer.echo(f"applied to {given}: {change} (version {sha}; 'autobot rollback {given}' restores the "
                       "previous one)", err=True)
        journal.commit()
    finally:
        journal.close()


def _check_apply_target(document: Path) -> None:
    """``--apply`` to a document that cannot be written is refused before the study, not after it."""
    import os

    from autobot.safeio import output_problem
    if not document.is_file():
        return                                  # said where the document is read
    problem = output_problem(os.path.realpath(document), stream_ok=False)
    if problem is not None:
        raise fail_usage(f"--apply: {document} {problem[0]}, so the chosen params could not be written into it; "
                         f"make it writable (chmod u+w {document}) or leave --apply out")


def _studied_texts(plan: Any, document: Path) -> dict[Path, str]:
    """The documents' texts as the study read them, by real path (to tell an edit during the study)."""
    import os
    if plan.policy is None:
        return {Path(os.path.realpath(document)): plan.text}
    base = document.resolve().parent
    return {Path(os.path.realpath(base / rel)): text for rel, text in plan.policy.files}


def _text_or_none(path: Path) -> str | None:
    from autobot.safeio import read_text_or_none
    return read_text_or_none(path, 1 << 20)


def _replace(path: Path, text: str) -> None:
    """``path`` (a real file, not a link) replaced atomically by ``text``, keeping its permissions;
    a failure leaves the file as it was and is one ``error:`` line."""
    import os
    import stat
    tmp = path.with_name(f".{path.name}.apply")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        typer.echo(f"error: --apply: could not write {path} ({err.strerror or err}); it is unchanged", err=True)
        raise typer.Exit(1) from None


def _run_with_progress(run: Any, total: int) -> Any:
    """A progress bar on a terminal (stderr): trials done, best so far in this window, and the
    out-of-sample score so far."""
    if not sys.stderr.isatty():
        return run(None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  TextColumn("{task.fields[info]}"), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("trials", total=total, info="")

        def progress(s: dict[str, Any]) -> None:
            info = f"best {num(s.get('best'))} (train)  OOS so far {num(s.get('oos'))}"
            bar.update(task, completed=s["done"], total=s["total"], description=s["window"], info=info)
        return run(progress)


def _print(result: Any, doc: dict[str, Any]) -> None:
    print_study(doc)


def print_study(doc: dict[str, Any], console: Any = None) -> None:
    """The study for a terminal: the windows (params wrapped, never cut at 80 columns; a window
    whose choice lost in sample says so), the out-of-sample table, the verdict with its one plain
    sentence first, then the final window's params: as "deploy" under a significant verdict, else
    labelled not recommended, after the reasons."""
    from rich.console import Console
    from rich.table import Table

    from autobot.optimize.output import headline, importance_note, window_comment
    console = console or Console(highlight=False)
    table = Table(title=f"{doc['strategy']}: {doc['objective']} walk-forward, {doc['trials']} trials per window"
                  if doc["walk_forward"] else f"{doc['strategy']}: IN-SAMPLE study, {doc['trials']} trials")
    for col in ("window", "train", "test", "chosen params", "IS\nscore", "OOS\nscore", "OOS\ntrades"):
        numeric = "score" in col or "trades" in col
        table.add_column(col, justify="right" if numeric else "left", overflow="fold",
                         min_width=10 if col in ("train", "test") else None)
    for w in doc["windows"]:
        oos = w["out_of_sample"] or {}
        params = "\n".join(f"{k}={v}" for k, v in (w["chosen"] or {}).items()) or "none scored"
        comment = w.get("comment") or window_comment(w)
        table.add_row(w["window"], f"{w['train_start'][:10]}\n{w['train_end'][:10]}",
                      f"{w['test_start'][:10]}\n{w['test_end'][:10]}" if w.get("test_start") else "-",
                      params + ("\n[red](lost in sample)[/]" if comment else ""),
                      num(w["in_sample_score"]), num(w.get("oos_score")), str(oos.get("trades", "-")))
    console.print(table)
    if doc["oos"] is not None:
        console.print(metrics_table("OUT OF SAMPLE (the test windows, stitched): the headline", doc["oos"],
                                    doc["oos_buy_and_hold"], doc["currency"]))
    else:
        console.print("IN SAMPLE ONLY (--no-walk-forward): no out-of-sample evidence")
    console.print(f"verdict: {doc['verdict'].upper()}: {doc.get('headline') or headline(doc)}")
    console.print(f"  (DSR {num(doc['dsr'])}, PBO {num(doc['pbo'])}, OOS PSR {num(doc['oos_psr'])}, "
                  f"WFE {num(doc['wfe'])})")
    for reason in doc["reasons"]:
        console.print(f"  - {reason}")
    for w in doc["windows"]:
        comment = w.get("comment") or window_comment(w)
        if comment:
            console.print(f"  - {w['window']}: {comment}")
    note = doc.get("importance_note", importance_note(doc))
    if note:
        console.print(f"note: {note}")
    params = ", ".join(f"{k}={v}" for k, v in doc["best_params"].items()) if doc["best_params"] else "none"
    if doc["verdict"] == "significant":
        console.print(f"deploy params (final window, in sample): {params}")
    else:
        console.print(f"final window's params (in sample), NOT RECOMMENDED ({doc['verdict']}): {params}")
    if doc["stability"]["cliff"]:
        console.print(f"warning: the chosen point is on a cliff along {', '.join(doc['stability']['cliff'])}: a "
                      "one-step change loses most of the score")
    conf = doc["confirmation"]["finalists"]
    if conf:
        console.print(f"NautilusTrader confirms the top {len(conf)} trials fill for fill "
                      f"({sum(c['fills'] for c in conf):,} fills)")
