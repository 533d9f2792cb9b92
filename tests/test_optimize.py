"""``autobot optimize``: the study, its journal and resume, workers, the JSON, --apply."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from autobot.cli.main import app
from autobot.data.bars import write_bars_csv
from autobot.data.synthetic import ar1_bars
from autobot.optimize import study as ST
from autobot.optimize.executor import InProcess, RayPool
from autobot.optimize.stats import Moments
from autobot.optimize.verdict import assess

ROOT = Path(__file__).resolve().parents[1]
TREND = ROOT / "strategies" / "trend.yaml"
BACKTEST_KEYS = {"total_return", "annual_return", "sharpe", "sortino", "max_drawdown", "win_rate", "profit_factor",
                 "trades", "exposure", "final_equity", "span_days", "fees"}
runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("opt") / "walk.csv"
    write_bars_csv(ar1_bars(8000, 5), path)
    return path


def _records(res: ST.StudyResult) -> list[tuple]:
    return [(w.window.name, r.number, tuple(sorted(r.params.items())), r.state, r.value, tuple(r.intermediate))
            for w in res.windows + [res.final] for r in w.records]


def _study(tmp: Path, executor, **kw) -> ST.StudyResult:
    options = ST.Options(trials=kw.pop("trials", 16), batch=kw.pop("batch", 8), **kw)
    p = ST.plan(TREND.read_text(), str(TREND), ar1_bars(8000, 5), options)
    return ST.run(p, executor, tmp)


def test_same_seed_same_study_and_another_seed_differs(tmp_path: Path) -> None:
    a = _study(tmp_path / "a.journal", InProcess())
    b = _study(tmp_path / "b.journal", InProcess())
    c = _study(tmp_path / "c.journal", InProcess(), seed=7)
    assert _records(a) == _records(b)
    assert _records(a) != _records(c)
    assert a.oos == b.oos
    assert any(r.state == "pruned" for w in a.windows for r in w.records)    # the median rule pruned some
    for w in a.windows:
        chosen = w.chosen
        assert chosen is not None and chosen.value == max(r.value for r in w.records if r.scored)
        assert all(isinstance(v, float) and v.is_integer() for v in chosen.params.values())   # ints stay ints


def needs_ray() -> None:
    pytest.importorskip("ray", reason="distributed trials need Ray: pip install -e \".[distributed]\" (an opt-in "
                                      "extra; .ci/run installs it)")


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_results_do_not_depend_on_the_workers_a_local_ray_cluster(tmp_path: Path) -> None:
    """The same study in this process and on a local Ray instance of two workers (started and
    stopped here, bound to 127.0.0.1): the same trials, values and out-of-sample result."""
    needs_ray()
    here = _study(tmp_path / "one.journal", InProcess())
    pool = RayPool(workers=2)
    try:
        assert pool.workers == 2
        there = _study(tmp_path / "ray.journal", pool)
    finally:
        pool.close()
    assert _records(here) == _records(there)
    assert here.oos == there.oos


def test_seed_bar_prefers_feasible_trials() -> None:
    def rec(n: int, value: float, dd: float) -> ST.Record:
        return ST.Record(n, {"x": float(n)}, "complete", value, {"max_drawdown": dd}, [dd - 0.05], [value],
                         Moments(0.01, 0, 3, 100), None, "")
    records = [rec(0, 3.0, 0.20), rec(1, 1.0, 0.04), rec(2, 2.0, 0.049), rec(3, 5.0, 0.06)]
    assert ST.choose(records).number == 2                # the best Sharpe within the 5% drawdown limit
    assert ST.choose([records[0], records[3]]).number == 3   # none feasible: the least violation


def test_min_trades_unscored_and_no_walk_forward_is_in_sample(tmp_path: Path) -> None:
    """A study in which no trial scores (each one under --min-trades) has nothing to report: it
    fails with the first trial's reason; one that scores without walk-forward is in-sample."""
    with pytest.raises(ST.NoTrialScored, match=r"all 16 trials .* fewer than --min-trades 100000"):
        _study(tmp_path / "m.journal", InProcess(), min_trades=100_000, walk_forward=False)
    res = _study(tmp_path / "n.journal", InProcess(), walk_forward=False)
    assert len(res.windows) == 0 and res.oos is None
    assert any(r.scored for r in res.final.records)
    a = assess(res)
    assert a["verdict"] != "significant"
    assert any("in-sample" in reason for reason in a["reasons"])


def _cli(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autobot.cli.main", *args], capture_output=True, text=True,
                          timeout=600, cwd=ROOT, env=env)


def _comparable(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in ("journal", "ran_on")}


@pytest.mark.slow
def test_a_killed_study_resumes_to_the_same_result(tmp_path: Path, data: Path) -> None:
    """SIGKILL mid-study, then --resume: the same JSON as an uninterrupted study with the same seed."""
    common = ["optimize", str(TREND), "--data", str(data), "--trials", "24", "--workers", "1", "--confirm", "1"]
    whole = _cli([*common, "--json", str(tmp_path / "whole.json")])
    assert whole.returncode == 0, whole.stderr
    journal = tmp_path / "cut.optuna.journal"
    proc = subprocess.Popen([sys.executable, "-m", "autobot.cli.main", *common, "--json", str(tmp_path / "cut.json")],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_bytes().count(b'"op_code":4') > 100:   # some windows done, not all
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the study ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "cut.json").exists()
    again = _cli([*common, "--json", str(tmp_path / "cut.json")])
    assert again.returncode == 2 and "--resume" in again.stderr          # never overwritten silently
    resumed = _cli([*common, "--json", str(tmp_path / "cut.json"), "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    a = json.loads((tmp_path / "whole.json").read_text())
    b = json.loads((tmp_path / "cut.json").read_text())
    assert _comparable(a) == _comparable(b)
    other = _cli([*common[:-2], "--confirm", "1", "--seed", "9", "--json", str(tmp_path / "cut.json"), "--resume"])
    assert other.returncode == 2 and "other documents, data or options" in other.stderr


def test_cli_json_and_the_nautilus_confirmation(tmp_path: Path, data: Path) -> None:
    out = tmp_path / "s.json"
    report = tmp_path / "s.html"
    r = runner.invoke(app, ["optimize", str(TREND), "--data", str(data), "--trials", "12", "--workers", "1",
                            "--json", str(out), "--report", str(report)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["verdict"] in ("significant", "not significant", "likely overfit")
    assert {"verdict", "dsr", "pbo", "trials", "best_params", "oos"} <= set(doc)
    assert set(doc["oos"]) == BACKTEST_KEYS
    assert 0 <= doc["dsr"] <= 1 and 0 <= doc["pbo"] <= 1
    assert doc["trials"] == 12 and doc["trials_total"] == 12 * 6
    assert set(doc["best_params"]) == {"fast", "slow", "mom_period"}
    assert all(isinstance(v, int) for v in doc["best_params"].values())
    conf = doc["confirmation"]["finalists"]
    assert len(conf) == 3 and all(c["identical"] and c["fills"] > 0 for c in conf)
    assert doc["oos"]["span_days"] == pytest.approx(sum(
        (np.datetime64(w["test_end"][:-1]) - np.datetime64(w["test_start"][:-1])) / np.timedelta64(1, "D")
        for w in doc["windows"]))
    assert "OUT OF SAMPLE" in r.output and "verdict:" in r.output
    assert (tmp_path / "s.optuna.journal").is_file()
    page = report.read_text()                    # the report: the JSON's numbers, out of sample first
    assert page.index("Out of sample (the headline)") < page.index("Walk-forward windows")
    assert f"{doc['dsr']:.3f}" in page and f"{doc['pbo']:.3f}" in page
    for w in doc["windows"]:
        assert f'{w["window"]}</td><td>{w["train_start"][:10]} .. {w["train_end"][:10]}</td>' in page
    assert "IN SAMPLE" in page and page.count("identical") >= 3 and "plotly" in page.lower()


def test_apply_refuses_noise_then_force_writes_keeps_comments_and_rolls_back(tmp_path: Path, data: Path) -> None:
    doc_path = tmp_path / "trend.yaml"
    original = TREND.read_text()
    doc_path.write_text(original)
    state = tmp_path / "state.sqlite"
    args = ["optimize", str(doc_path), "--data", str(data), "--trials", "8", "--workers", "1", "--confirm", "0",
            "--state", str(state), "--json", str(tmp_path / "a.json")]
    refused = runner.invoke(app, [*args, "--apply"])
    result = json.loads((tmp_path / "a.json").read_text())
    if result["verdict"] == "significant":
        pytest.fail("a random walk came out significant")
    assert refused.exit_code == 1 and "--apply refused" in refused.output
    assert doc_path.read_text() == original
    forced = runner.invoke(app, [*args, "--apply", "--force", "--resume"])
    assert forced.exit_code == 0, forced.output
    new = doc_path.read_text()
    best = json.loads((tmp_path / "a.json").read_text())["best_params"]
    assert "# yaml-language-server: $schema=../schema/strategy.json" in new       # comments and layout kept
    for name, value in best.items():
        assert f"{name}: {{default: {value}," in new
    assert new.count("\n") == original.count("\n")
    assert runner.invoke(app, ["validate", str(doc_path)]).exit_code == 0
    back = runner.invoke(app, ["rollback", str(doc_path), "--state", str(state)])
    assert back.exit_code == 0, back.output
    assert doc_path.read_text() == original


def test_a_policy_study_searches_every_document_together_or_one_with_only() -> None:
    """Without --only, the shipped policy's study space is every strategy's and the regimes'
    params, named by document; --only NAME keeps that document's; an unknown name lists them."""
    from autobot.data.bars import load_bars
    policy = ROOT / "policy.yaml"
    data = {"BTCUSDT.BINANCE": load_bars(ROOT / "examples" / "data" / "example_btcusdt_1h.csv")}
    options = ST.Options(trials=2, windows=2, folds=1)
    every = {d.owner for d in ST.plan_policy(policy, data, options).dims}
    assert every == {"regimes", "trend_ema", "momentum_breakout", "bollinger_rsi"}
    alone = ST.plan_policy(policy, data, options, only="trend_ema").dims
    assert {d.owner for d in alone} == {"trend_ema"} and len(alone) >= 2
    with pytest.raises(ValueError, match="the policy's documents are regimes, "):
        ST.plan_policy(policy, data, options, only="nope")


@pytest.mark.slow
def test_policy_study_of_the_regimes_and_apply(tmp_path: Path) -> None:
    """``optimize --policy --only regimes``: portfolio trials on Nautilus search the regimes
    document's thresholds; --apply --force writes them into regimes.yaml (comments kept) and
    rollback restores it."""
    import shutil
    for name in ("policy.yaml", "regimes", "strategies"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, tmp_path / name)
    data = ROOT / "examples" / "data" / "example_btcusdt_1h.csv"
    bad = runner.invoke(app, ["optimize", "--policy", str(tmp_path / "policy.yaml"), "--data", str(data),
                              "--only", "nope", "--workers", "1"])
    assert bad.exit_code == 2 and "regimes" in bad.output
    original = (tmp_path / "regimes" / "regimes.yaml").read_text()
    policy_text = (tmp_path / "policy.yaml").read_text()
    assert "  max_drawdown: 5%" in policy_text
    (tmp_path / "policy.yaml").write_text(policy_text.replace("  max_drawdown: 5%", "  max_drawdown: 8%"))
    out = tmp_path / "p.json"
    state = tmp_path / "state.sqlite"
    r = runner.invoke(app, ["optimize", "--policy", str(tmp_path / "policy.yaml"), "--data", str(data), "--only",
                            "regimes", "--trials", "3", "--windows", "2", "--folds", "1", "--workers", "1",
                            "--json", str(out), "--apply", "--force", "--state", str(state)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["policy"] is True and doc["confirmation"]["engine"] == "nautilus"
    assert doc["limits"] == {"max_drawdown": 0.08}          # seed_bar's limit: the policy's own breaker
    assert set(doc["best_params"]) == {"regimes.natr_volatile", "regimes.adx_trending", "regimes.adx_ranging"}
    assert set(doc["oos"]) == BACKTEST_KEYS
    new = (tmp_path / "regimes" / "regimes.yaml").read_text()
    assert "# first match wins, in this order" in new
    assert f"adx_trending: {{default: {doc['best_params']['regimes.adx_trending']}," in new
    assert runner.invoke(app, ["validate", str(tmp_path / "policy.yaml")]).exit_code == 0
    back = runner.invoke(app, ["rollback", str(tmp_path / "regimes" / "regimes.yaml"), "--state", str(state)])
    assert back.exit_code == 0, back.output
    assert (tmp_path / "regimes" / "regimes.yaml").read_text() == original


@pytest.mark.slow
@pytest.mark.xdist_group("ray")   # `ray stop --force` ends every Ray process: never beside another Ray test
def test_ray_address_runs_the_study_on_an_existing_cluster(tmp_path: Path, data: Path) -> None:
    """A Ray head started by the test (``ray start --head`` on 127.0.0.1), the study sent to it
    with --ray-address: the same JSON as --workers 1 in this process."""
    needs_ray()
    import shutil
    import socket
    ray_cli = Path(sys.executable).parent / "ray"
    if not ray_cli.exists():
        ray_cli = Path(shutil.which("ray") or "ray")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import secrets
    # the cluster's own token (Ray's token authentication): the head and the driver share it
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    started = subprocess.run([str(ray_cli), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                              "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats"],
                             capture_output=True, text=True, timeout=180, env=env)
    assert started.returncode == 0, started.stderr
    try:
        common = ["optimize", str(TREND), "--data", str(data), "--trials", "6", "--confirm", "0"]
        here = _cli([*common, "--workers", "1", "--json", str(tmp_path / "here.json")])
        assert here.returncode == 0, here.stderr
        there = _cli([*common, "--ray-address", f"127.0.0.1:{port}", "--json", str(tmp_path / "there.json")], env)
        assert there.returncode == 0, there.stderr
    finally:
        subprocess.run([str(ray_cli), "stop", "--force"], capture_output=True, timeout=120, env=env)
    a = json.loads((tmp_path / "here.json").read_text())
    b = json.loads((tmp_path / "there.json").read_text())
    assert b["ran_on"].startswith("Ray at 127.0.0.1")
    assert _comparable(a) == _comparable(b)


def test_resume_from_any_point_of_the_journal(tmp_path: Path) -> None:
    """The journal cut after any trial (mid-batch included) or inside a line (a kill while it was
    written), then resumed: the same trials, choices and out-of-sample result as the whole study."""
    full = tmp_path / "full.journal"
    whole = _study(full, InProcess(), trials=12, batch=4)
    lines = full.read_bytes().splitlines(keepends=True)
    creates = [k for k, line in enumerate(lines) if b'"op_code":4' in line]
    cuts = sorted({creates[1] + 1, creates[2] + 1, creates[len(creates) // 2] + 1, creates[-2] + 1})
    for k in cuts:
        cut = tmp_path / f"cut{k}.journal"
        cut.write_bytes(b"".join(lines[:k]) + lines[k][: len(lines[k]) // 2])      # and a torn line
        again = ST.run(ST.plan(TREND.read_text(), str(TREND), ar1_bars(8000, 5),
                               ST.Options(trials=12, batch=4)), InProcess(), cut, resume=True)
        assert _records(again) == _records(whole), k
        assert again.oos == whole.oos


def _window_trials(journal: Path) -> dict[str, list]:
    """Every trial the journal holds, by window."""
    import optuna
    st = ST.storage(journal)
    names = [s.study_name for s in optuna.get_all_study_summaries(st) if s.study_name != ST.META]
    return {name: optuna.load_study(study_name=name, storage=st).get_trials(deepcopy=False) for name in names}


def test_no_trial_breaks_a_constraint_and_a_broken_sample_is_no_trial(tmp_path: Path, data: Path) -> None:
    """``constraints: [slow >= 2 * fast]``: the study's JSON (its trial list, every window's choice,
    the stability neighbours it ran) and its journal (every trial of every window) hold no point
    that breaks it, and every window still has exactly --trials trials. The same study without the
    constraint samples points that break it (so the constraint did the work)."""
    text = TREND.read_text().replace("  - slow > fast ", "  - slow >= 2 * fast ")
    assert "slow >= 2 * fast" in text
    doc_path = tmp_path / "trend.yaml"
    doc_path.write_text(text)
    out = tmp_path / "c.json"
    r = runner.invoke(app, ["optimize", str(doc_path), "--data", str(data), "--trials", "16", "--workers", "1",
                            "--confirm", "0", "--json", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["constraints"] == ["slow >= 2 * fast"]

    def holds(params: dict) -> bool:
        return params["slow"] >= 2 * params["fast"]
    assert len(doc["trial_list"]) == 16 and all(holds(t["params"]) for t in doc["trial_list"])
    assert doc["trials_total"] == 16 * 6
    assert all(holds(w["chosen"]) for w in doc["windows"] + [doc["final_window"]] if w["chosen"])
    for name, rows in doc["stability"]["neighbours"].items():
        for row in rows:
            point = {**doc["best_params"], name: row["value"]}
            assert holds(point) == ("breaks" not in row), (name, row)
            if "breaks" in row:
                assert row["score"] is None and row["breaks"][0].startswith("slow >= 2 * fast (slow = ")
    trials = _window_trials(tmp_path / "c.optuna.journal")
    assert len(trials) == 6 and all(len(ts) == 16 for ts in trials.values())
    assert all(holds(t.params) for ts in trials.values() for t in ts)
    free = ST.plan(text.replace("constraints:\n  - slow >= 2 * fast", "# no constraint"), "free.yaml",
                   ar1_bars(8000, 5), ST.Options(trials=16))
    assert free.bounds == []
    unconstrained = ST.run(free, InProcess(), tmp_path / "free.journal")
    assert any(not holds(r.params) for w in unconstrained.windows + [unconstrained.final] for r in w.records)


def test_a_policy_study_keeps_each_documents_constraints() -> None:
    """In a policy study the regimes' constraint reads the regimes' params by their qualified names;
    sampling never proposes adx_trending <= adx_ranging (the issue's 19 and 21)."""
    from autobot.data.bars import load_bars
    from autobot.optimize import space as SP
    data = {"BTCUSDT.BINANCE": load_bars(ROOT / "examples" / "data" / "example_btcusdt_1h.csv")}
    p = ST.plan_policy(ROOT / "policy.yaml", data, ST.Options(trials=2, windows=2, folds=1), only="regimes")
    assert [t for b in p.bounds for t in b.texts()] == ["regimes: adx_trending > adx_ranging"]
    bad = {"regimes.natr_volatile": 3.0, "regimes.adx_trending": 19.0, "regimes.adx_ranging": 21.0}
    assert SP.violations(p.bounds, p.dims, bad) == [
        "regimes: adx_trending > adx_ranging (adx_trending = 19, adx_ranging = 21)"]
    points = ST.sample_batch(p.dims, [], list(range(64)), ST.Options(sampler="random", seed=3), 0, p.bounds)
    assert len(points) == 64
    assert all(x["regimes.adx_trending"] > x["regimes.adx_ranging"] for x in points)
    free = ST.sample_batch(p.dims, [], list(range(64)), ST.Options(sampler="random", seed=3), 0)
    assert any(x["regimes.adx_trending"] <= x["regimes.adx_ranging"] for x in free)


def test_the_dsr_counts_every_trial_that_ran_pruned_ones_with_the_folds_they_ran(tmp_path: Path) -> None:
    """N and the variance V of trial Sharpes behind the DSR are over every trial that ran: scored,
    unscored and pruned. A pruned trial keeps its Sharpe after each fold it ran (in the journal,
    read back by --resume); its whole-range Sharpe is predicted from them by the line fitted over
    the completed trials (their Sharpe after the same folds against their whole-range Sharpe),
    with that line's residual variance (computed here with numpy's polyfit)."""
    from autobot.optimize import stats
    from autobot.optimize.verdict import selection_stats
    res = _study(tmp_path / "d.journal", InProcess())
    pruned_seen = 0
    for wr in res.windows + [res.final]:
        st = selection_stats(wr)
        ran = [r for r in wr.records if r.state in ("complete", "pruned")]
        complete = [r for r in ran if r.state == "complete"]
        pruned = [r for r in ran if r.state == "pruned"]
        pruned_seen += len(pruned)
        full = complete[0].moments.n
        assert all(len(r.partial) == 3 and r.partial[-1] == r.moments.sharpe and r.moments.n == full
                   for r in complete)
        for r in pruned:                          # the folds it ran: fewer bars, its Sharpe after each
            assert r.moments is not None and 0 < r.moments.n < full and r.partial[-1] == r.moments.sharpe
            assert len(r.partial) == int(r.reason.split("after fold ")[1].split(":")[0])
        assert st["trials"] == len(ran) == len(wr.records) and st["pruned"] == len(pruned)
        values, extra = [r.moments.sharpe for r in complete], 0.0
        for r in pruned:
            k = len(r.partial)
            x = np.array([c.partial[k - 1] for c in complete])
            y = np.array([c.moments.sharpe for c in complete])
            slope, intercept = np.polyfit(x, y, 1)
            values.append(intercept + slope * r.partial[-1])
            extra += float(np.sum((y - (intercept + slope * x)) ** 2)) / (len(x) - 2)
        v = np.array(values)
        expected = (float(np.sum((v - v.mean()) ** 2)) + extra) / (len(v) - 1)
        assert st["sharpe_variance"] == pytest.approx(expected, rel=1e-9)
        # N: the independent trials they amount to, rho + (1 - rho) M, rho the completed trials'
        # average pairwise correlation of their per-block mean returns
        blocks = np.array([r.sums.total / r.sums.count for r in complete if r.sums is not None])
        blocks = blocks[np.std(blocks, axis=1) > 0]                     # a trial that never traded: no correlation
        corr = np.corrcoef(blocks)
        rho = min(1.0, max(0.0, float(corr[~np.eye(len(corr), dtype=bool)].mean())))
        assert st["average_correlation"] == pytest.approx(rho, rel=1e-9)
        assert st["trials_effective"] == pytest.approx(rho + (1 - rho) * len(ran), rel=1e-9)
        assert st["dsr"] == pytest.approx(stats.dsr(wr.chosen.moments, rho + (1 - rho) * len(ran),
                                                    st["sharpe_variance"]), rel=1e-9)
        if pruned:        # not the survivors' variance
            survivors = [r.moments.sharpe for r in ran if r.scored]
            assert st["sharpe_variance"] != pytest.approx(float(np.var(survivors, ddof=1)), rel=1e-6)
    assert pruned_seen > 0
    again = ST.run(res.plan, InProcess(), tmp_path / "d.journal", resume=True)     # every trial from the journal
    assert assess(again) == assess(res)


def test_the_verdict_weighs_pbo_against_the_out_of_sample_evidence() -> None:
    """A high PBO is called overfitting only when the walk-forward track is not significant: the
    benchmark's planted edges (OOS PSR >= 0.99, DSR just under 0.95) are 'not significant', not
    'likely overfit'; noise with the same PBO stays 'likely overfit'."""
    from autobot.optimize.verdict import decide
    planted, why = decide(0.948, 0.93, 0.9999, 328, 19, 2.88)
    assert planted == "not significant"
    assert why[0] == "DSR 0.948 < 0.95" and "not taken as overfitting" in why[-1]
    assert decide(0.30, 0.93, 0.08, 200, 19, -0.7)[0] == "likely overfit"
    assert decide(0.99, 0.93, 0.999, 328, 19, 2.9)[0] == "significant"
    assert decide(0.99, 0.20, 0.40, 328, 19, -0.1)[0] == "likely overfit"       # DSR in sample, lost out of sample
    assert decide(0.99, 0.93, None, None, 19, None)[0] == "likely overfit"      # --no-walk-forward: PBO alone


def test_a_worker_never_shares_indicators_between_series_of_the_same_length_and_start(tmp_path: Path) -> None:
    """Two series of the same length and first bar (two instruments over one span; the benchmark's
    seeded series) studied one after the other in one process: the second study is the study it
    is alone (its trials once computed the first series' TA-Lib results, keyed by length and
    first timestamp only)."""
    from autobot.optimize import trial as T
    first, second = ar1_bars(6000, 21), ar1_bars(6000, 22)
    assert first.ts[0] == second.ts[0] and len(first) == len(second)
    text = (ROOT / "strategies" / "momentum.yaml").read_text()

    def study(bars, name: str) -> ST.StudyResult:
        return ST.run(ST.plan(text, "momentum.yaml", bars, ST.Options(trials=8, windows=2)), InProcess(),
                      tmp_path / name)
    T._CACHES.clear()
    alone = study(second, "alone.journal")
    T._CACHES.clear()
    study(first, "first.journal")
    after = study(second, "after.journal")
    assert _records(after) == _records(alone)
    assert after.oos == alone.oos
