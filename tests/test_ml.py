"""ml: walk-forward models in the language. Batch and streaming evaluators agree bit for bit,
predictions are prefix-invariant, the fast engine and Nautilus trade the same, a replayed node
decides as the backtest; a harness of planted leaks is each caught and clean features are not;
documents that would leak are positioned errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from typer.testing import CliRunner

from autobot.cli.main import app
from autobot.data.bars import Bars, load_bars
from autobot.evaluate import learn as L
from autobot.evaluate.batch import evaluate
from autobot.evaluate.stream import StreamEvaluator
from autobot.language.compile import compile_strategy_text
from tests.helpers import ROOT

DATA = ROOT / "examples" / "data" / "example_btcusdt_1h.csv"


def strategy(kind: str = "lightgbm", target: str = "up", extra: str = "") -> str:
    threshold = "0.55" if target == "up" else "0.001"
    return f"""strategy: ml_{kind}_{target}
market: {{instrument: BTCUSDT.BINANCE, bar: 1h}}
ml:
  pred:
    kind: {kind}
    features:
      - rsi(close, 14)
      - pct_change(close, 5)
      - close > sma(close, 50)
    target: {{kind: {target}, horizon: 4}}
    train_bars: 400
    retrain_every: 150
{extra}entry:
  long: pred.value > {threshold}
exit:
  long: pred < {threshold}
"""


@pytest.fixture(scope="module")
def bars() -> Bars:
    return load_bars(DATA).slice(0, 1500)


LSTM = "    params: {seq_len: 6, hidden: 4, epochs: 25}\n"       # a small LSTM: the suite stays fast


def needs_torch() -> None:
    pytest.importorskip("torch", reason="the lstm kind needs PyTorch: pip install -e \".[lstm]\" (an opt-in "
                                        "extra; .ci/run installs it)")


@pytest.mark.parametrize("kind, target", [("lightgbm", "up"), ("linear", "return"), ("linear", "up"),
                                          ("lightgbm", "return"), ("lstm", "up")])
def test_batch_and_stream_agree_and_cutting_the_data_changes_nothing_before(bars: Bars, kind: str,
                                                                            target: str) -> None:
    if kind == "lstm":
        needs_torch()
    cs = compile_strategy_text(strategy(kind, target, LSTM if kind == "lstm" else ""), "s.yaml")
    node = cs.plan.named["pred"]
    whole = np.asarray(evaluate(cs.plan, bars)[node])
    first = int(np.argmax(np.isfinite(whole)))
    assert first == cs.plan.warmup[node] and np.isfinite(whole[first:]).all()     # the documented warm-up
    ev = StreamEvaluator(cs.plan)
    seen = []
    for k in range(len(bars)):
        ev.update(int(bars.ts[k]), bars.open[k], bars.high[k], bars.low[k], bars.close[k], bars.volume[k])
        seen.append(ev.value(node))
    assert np.array_equal(whole, np.array(seen), equal_nan=True)                   # bit for bit
    for cut in (first, first + 1, first + 149, first + 150, 1111):
        part = np.asarray(evaluate(cs.plan, bars.slice(0, cut + 1))[node])
        assert np.array_equal(part, whole[:cut + 1], equal_nan=True), cut


@pytest.mark.parametrize("embargo", [0, 9])
def test_an_embargo_moves_every_training_window_back(bars: Bars, embargo: int) -> None:
    """``embargo: e``: the model trained at bar r learns from the rows a model without one would
    have used at r - e (its last label is known e bars before r), from e bars later on; batch and
    stream still agree and a cut still changes nothing before it."""
    base = compile_strategy_text(strategy("linear", "return"), "s.yaml")
    cs = compile_strategy_text(strategy("linear", "return", f"    embargo: {embargo}\n"), "s.yaml")
    node, plain = cs.plan.nodes[cs.plan.named["pred"]], base.plan.nodes[base.plan.named["pred"]]
    spec, spec0 = L.Spec.of(node), L.Spec.of(plain)
    assert spec.embargo == embargo
    assert cs.plan.warmup[cs.plan.named["pred"]] == base.plan.warmup[base.plan.named["pred"]] + embargo
    for r in (700, 850, 1000):
        a, b = L.training_rows(r, spec)
        assert (a, b) == L.training_rows(r - embargo, spec0) and (b - 1) + node.horizon == r - embargo
    whole = np.asarray(evaluate(cs.plan, bars)[cs.plan.named["pred"]])
    ev = StreamEvaluator(cs.plan)
    seen = []
    for k in range(len(bars)):
        ev.update(int(bars.ts[k]), bars.open[k], bars.high[k], bars.low[k], bars.close[k], bars.volume[k])
        seen.append(ev.value(cs.plan.named["pred"]))
    assert np.array_equal(whole, np.array(seen), equal_nan=True)
    first = cs.plan.warmup[cs.plan.named["pred"]]
    for cut in (first, first + 150, 1200):
        part = np.asarray(evaluate(cs.plan, bars.slice(0, cut + 1))[cs.plan.named["pred"]])
        assert np.array_equal(part, whole[:cut + 1], equal_nan=True)


def test_the_fast_engine_and_nautilus_trade_the_same(bars: Bars) -> None:
    from autobot.backtest.engine import run_backtest
    from autobot.fast.engine import run_fast
    cs = compile_strategy_text(strategy(), "s.yaml")
    nautilus, fast = run_backtest(cs, bars), run_fast(cs, bars)
    assert len(nautilus.fills) > 20 and nautilus.fills == fast.fills
    assert nautilus.final_equity == fast.final_equity


def test_signals_shows_the_prediction_as_a_column(tmp_path: Path) -> None:
    doc = tmp_path / "s.yaml"
    doc.write_text(strategy())
    out = tmp_path / "sig.csv"
    done = CliRunner().invoke(app, ["signals", str(doc), "--data", str(DATA), "--out", str(out)])
    assert done.exit_code == 0, done.output
    header = out.read_text().splitlines()[0].split(",")
    assert header[:2] == ["timestamp", "pred"]


# ---------------------------------------------------------------------- the leakage harness
SPEC = L.Spec("linear", "return", 4, 300, 100, (), 7)


def _roll_mean(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    c = np.cumsum(np.insert(x, 0, 0.0))
    out[n - 1:] = (c[n:] - c[:-n]) / n
    return out


def _clean(b: Bars) -> np.ndarray:
    r = np.log(b.close / np.roll(b.close, 1))
    r[0] = 0.0
    return np.column_stack([r, _roll_mean(r, 10), np.log(b.volume + 1)])


def _z(x: np.ndarray) -> np.ndarray:
    return (x - np.nanmean(x, axis=0)) / np.nanstd(x, axis=0)


LEAKS: dict[str, Callable[[Bars], np.ndarray]] = {
    "a centred window": lambda b: np.column_stack([_clean(b)[:, 0], np.convolve(b.close, np.ones(9) / 9, "same")]),
    "a scaler fit on the whole sample": lambda b: _z(_clean(b)),
    "global min/max normalisation": lambda b: (b.close[:, None] - b.close.min()) / (b.close.max() - b.close.min()),
    "a future bar as a feature": lambda b: np.column_stack([_clean(b)[:, 0], np.append(b.close[1:], np.nan)]),
    "the target itself as a feature": lambda b: np.column_stack([_clean(b)[:, 0], L.labels(b.close, 4, "return")]),
    "a backward fill": lambda b: np.column_stack([_clean(b)[:, 0], _bfill(np.where(np.arange(len(b)) % 24 == 0,
                                                                                    b.close, np.nan))]),
    "a whole-sample detrend": lambda b: (b.close - np.polyval(np.polyfit(np.arange(len(b)), b.close, 1),
                                                              np.arange(len(b))))[:, None],
    "a whole-sample rank": lambda b: (np.argsort(np.argsort(b.close)) / len(b))[:, None],
    "the day's high known all day": lambda b: np.column_stack([_clean(b)[:, 0], _day_high(b)]),
    "the sample's mean return": lambda b: np.column_stack([_clean(b)[:, 0],
                                                           np.full(len(b), np.nanmean(_clean(b)[:, 0]))]),
}


def _bfill(x: np.ndarray) -> np.ndarray:
    out = x.copy()
    for k in range(len(out) - 2, -1, -1):
        if np.isnan(out[k]):
            out[k] = out[k + 1]
    return out


def _day_high(b: Bars) -> np.ndarray:
    day = b.ts // 86_400_000_000_000
    out = np.empty(len(b))
    for d in np.unique(day):
        out[day == d] = b.high[day == d].max()
    return out


def _leaks(features: Callable[[Bars], np.ndarray], b: Bars, rows=None) -> bool:
    """Prefix invariance of the pipeline, features then walk-forward predictions: True when cutting
    the data after some bar changes a feature or a prediction at or before it. (A whole-sample
    scaler, say, leaves a linear model's predictions unchanged, since the model rescales inside its
    window, but not the features: the check at the features catches it.)"""
    with np.errstate(all="ignore"):
        x = features(b)
        whole = L.walk_forward(SPEC, x, b.close, rows)
        for cut in (*range(705, 722), 905, 1234):     # every bar around a retraining point (713), and two more
            xc = features(b.slice(0, cut + 1))
            if not np.array_equal(xc, x[:cut + 1], equal_nan=True):
                return True
            part = L.walk_forward(SPEC, xc, b.close[:cut + 1], rows)
            if not np.array_equal(part, whole[:cut + 1], equal_nan=True):
                return True
    return False


@pytest.mark.parametrize("leak", list(LEAKS))
def test_each_planted_leak_is_caught(bars: Bars, leak: str) -> None:
    assert _leaks(LEAKS[leak], bars), f"{leak} was not caught"


def test_labels_overlapping_the_training_end_are_caught_and_clean_features_are_not(bars: Bars) -> None:
    def no_purge(r: int, spec: L.Spec) -> tuple[int, int]:
        return r + 1 - spec.train, r + 1           # rows up to r: their labels need closes after r
    assert np.isfinite(L.walk_forward(SPEC, _clean(bars), bars.close)[400:]).all()   # the clean pipeline predicts
    assert _leaks(_clean, bars, no_purge)
    assert not _leaks(_clean, bars)
    cs = compile_strategy_text(strategy("linear", "return"), "s.yaml")   # features of the language
    assert not _leaks(lambda b: np.column_stack([np.asarray(evaluate(cs.plan, b)[j], dtype=float)
                                                 for j in cs.plan.nodes[cs.plan.named["pred"]].inputs]), bars)


# ---------------------------------------------------------------------- documents that would leak
@pytest.mark.parametrize("edit, line, column, code", [
    (("      - close > sma(close, 50)\n", "      - pred[1] > 0.5\n"), 9, 9, "model-feature"),   # own prediction
    (("horizon: 4}", "horizon: 400}"), 10, 33, "leaking-horizon"),
    (("      - rsi(close, 14)\n", "      - rsi(close, 14) * position.qty\n"), 7, 9, "position-feature"),
    (("      - rsi(close, 14)\n", "      - rsii(close, 14)\n"), 7, 9, "unknown-function"),
    (("    train_bars: 400\n", "    train_bars: 400\n    params: {depth: 3}\n"), 12, 14, "unknown-param"),
    (("kind: lightgbm", "kind: lstm"), 5, 11, "missing-dependency"),
    (("    train_bars: 400\n", "    train_bars: 400\n    params: {num_leaves: 1}\n"), 12, 26, "bad-param"),
    (("kind: lightgbm", "kind: lstm\n    params: {seq_len: 2.5}"), 6, 23, "bad-param"),
])
def test_documents_that_would_leak_are_positioned_errors(tmp_path: Path, edit: tuple[str, str], line: int,
                                                         column: int, code: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    if code == "missing-dependency":        # as on a machine without the ml extra
        import autobot.language.ml
        monkeypatch.setattr(autobot.language.ml, "torch_available", lambda: False)
    doc = tmp_path / "s.yaml"
    text = strategy()
    assert edit[0] in text
    doc.write_text(text.replace(edit[0], edit[1]))
    out = CliRunner().invoke(app, ["validate", str(doc), "--format", "json"])
    assert out.exit_code == 1, out.output
    found = [(d["line"], d["column"], d["code"]) for d in json.loads(out.output)]
    assert found == [(line, column, code)]              # one error, at the cause (rules naming the model: none)


def test_a_replayed_node_trades_as_the_backtest_models_included(tmp_path: Path, bars: Bars) -> None:
    from autobot.live.node import run_replay
    from autobot.portfolio.engine import run_portfolio
    from autobot.workspace import load_policy
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "m.yaml").write_text(strategy())
    (tmp_path / "regimes.yaml").write_text("regimes:\n  always: true\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text("policy: ml\nregimes: regimes.yaml\nallocations:\n  always: {ml_lightgbm_up: 100%}\n"
                      "capital: 100000\n")
    data = {"BTCUSDT.BINANCE": bars}
    state = tmp_path / "state.sqlite"
    live = run_replay(policy, data, state=state)
    backtest = run_portfolio(load_policy(policy), data, compare=False)
    assert len(backtest.trades) > 10 and live.result.trades == backtest.trades
    assert live.result.final_equity == backtest.final_equity
    # every model the node trained is in the state store: its bar, rows, the hash of its data, itself
    import hashlib
    import io
    import sqlite3
    from autobot.live.parity import journal_bars
    from autobot.persistence.journal import open_readonly, read_bars, read_run
    cs = compile_strategy_text(strategy(), "s.yaml")
    node = cs.plan.nodes[cs.plan.named["pred"]]
    ro = open_readonly(state)
    seen = journal_bars(read_bars(ro, read_run(ro)))["BTCUSDT.BINANCE"]     # the bars as the node saw them
    ro.close()
    values = evaluate(cs.plan, seen)
    x = np.column_stack([np.asarray(values[j], dtype=np.float64) for j in node.inputs])
    y = L.labels(seen.close, node.horizon, node.target)
    db = sqlite3.connect(state)
    rows = db.execute("SELECT trained_at, rows, data_sha, model, train_from, train_to FROM models "
                      "ORDER BY trained_at").fetchall()
    db.close()
    first = cs.plan.warmup[cs.plan.named["pred"]]
    assert [r[0] for r in rows] == list(range(first, len(bars), node.step))
    for at, n, sha, blob, start, stop in rows:
        a, b = L.training_rows(at, L.Spec.of(node))
        assert n == b - a == node.train and (start, stop) == (a, b)      # the training window, versioned
        assert sha == hashlib.sha256(np.ascontiguousarray(x[a:b]).tobytes() + y[a:b].tobytes()).hexdigest()[:16]
        saved = np.load(io.BytesIO(blob), allow_pickle=False)
        assert str(saved["kind"]) == "lightgbm" and len(saved["roots"]) == 50


def test_a_live_node_trains_in_another_process_and_keeps_the_old_model_meanwhile(bars: Bars) -> None:
    """Online.background (a venue node's): a retraining goes to another process; the previous
    model predicts until the new one is back, then the new one predicts exactly what the batch
    evaluator's model trained at that retraining bar predicts."""
    import concurrent.futures
    import multiprocessing
    cs = compile_strategy_text(strategy(), "s.yaml")
    node = cs.plan.nodes[cs.plan.named["pred"]]
    batch = np.asarray(evaluate(cs.plan, bars)[cs.plan.named["pred"]])
    values = evaluate(cs.plan, bars)
    x = np.column_stack([np.asarray(values[j], dtype=np.float64) for j in node.inputs])
    spec = L.Spec.of(node)
    pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    online = L.Online(spec)
    online.background = pool
    seen, submitted = [], []
    try:
        for k in range(len(bars)):
            seen.append(online(float(bars.close[k]), *map(float, x[k])))
            if online.pending is not None and online.pending[1] == k:
                submitted.append(k)              # the call returned with the training still to come back
                online.pending[0].result()       # (here the test lets it finish before the next bar)
    finally:
        pool.shutdown()
    assert len(submitted) >= 5 and online.swaps == [(k, k + 1) for k in submitted if k + 1 < len(bars)]
    assert np.isnan(seen[submitted[0]])                                      # no model yet at the first
    for k in submitted[1:]:
        assert seen[k] != batch[k]           # the previous model's prediction, not the new one's
    for k, nxt in zip(submitted, submitted[1:] + [len(bars)]):
        assert np.array_equal(np.array(seen[k + 1:nxt]), batch[k + 1:nxt], equal_nan=True), k


# ---------------------------------------------------------------------- the lstm kind
def test_the_lstm_trains_deterministically_and_its_compiled_forward_is_pytorchs() -> None:
    """The same rows and seed give the same weights; the compiled prediction equals PyTorch's own
    LSTM forward pass (float64) and is the same for one row as for many."""
    needs_torch()
    import torch
    from autobot.evaluate import lstm
    rng = np.random.default_rng(3)
    k, steps, hidden = 3, 5, 4
    z = rng.normal(size=(300, steps * k))
    y = (z[:, -k] + 0.5 * rng.normal(size=300) > 0).astype(float)      # learnable from the last step
    net = lstm.train(z, y, k, True, hidden, 40, 0.02, 0.0, 11)
    again = lstm.train(z, y, k, True, hidden, 40, 0.02, 0.0, 11)
    assert all(np.array_equal(getattr(net, f), getattr(again, f)) for f in ("w_ih", "w_hh", "bias", "w_out"))
    ours = lstm.predict(net, z, k)
    ref_lstm = torch.nn.LSTM(k, hidden, batch_first=True).double()
    head = torch.nn.Linear(hidden, 1).double()
    with torch.no_grad():
        ref_lstm.weight_ih_l0.copy_(torch.tensor(net.w_ih))
        ref_lstm.weight_hh_l0.copy_(torch.tensor(net.w_hh))
        ref_lstm.bias_ih_l0.copy_(torch.tensor(net.bias))
        ref_lstm.bias_hh_l0.zero_()
        head.weight.copy_(torch.tensor(net.w_out[None]))
        head.bias.fill_(net.b_out)
        ref = torch.sigmoid(head(ref_lstm(torch.tensor(z.reshape(300, steps, k)))[0][:, -1, :])).squeeze(-1)
    assert np.abs(ours - ref.numpy()).max() < 1e-12
    assert np.array_equal(np.array([lstm.predict(net, z[i:i + 1], k)[0] for i in range(300)]), ours)
    assert np.mean((ours > 0.5) == (y > 0.5)) > 0.7                     # it learned the planted signal
    with_other_seed = lstm.train(z, y, k, True, hidden, 40, 0.02, 0.0, 12)
    assert not np.array_equal(with_other_seed.w_ih, net.w_ih)


def test_an_lstm_row_is_its_last_seq_len_rows_and_is_kept_without_pickle() -> None:
    needs_torch()
    spec = L.Spec("lstm", "return", 2, 60, 30, (("epochs", 5.0), ("hidden", 3.0), ("seq_len", 3.0)), 7)
    x = np.arange(12, dtype=float).reshape(6, 2)
    w = L.window(spec, x)
    assert not np.isfinite(w[:2]).all(axis=1).any() and list(w[1][2:]) == [0, 1, 2, 3] and list(w[2]) == [0, 1, 2, 3, 4, 5] and list(w[5]) == [6, 7, 8, 9, 10, 11]
    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 200)))
    feats = rng.normal(size=(200, 2))
    pred = L.walk_forward(spec, feats, close)
    first = L.first_retrain(2, spec)                      # rows defined from the third (seq_len 3)
    assert np.isnan(pred[:first]).all() and np.isfinite(pred[first:]).all()
    a, b = L.training_rows(first, spec)
    fitted = L.fit(spec, L.window(spec, feats)[a:b], L.labels(close, 2, "return")[a:b])
    import io
    saved = np.load(io.BytesIO(L.to_bytes(fitted)), allow_pickle=False)
    assert str(saved["kind"]) == "lstm" and saved["w_ih"].shape == (12, 2)


def test_a_reloaded_version_keeps_the_running_model_when_the_model_is_unchanged(bars: Bars) -> None:
    """A hot reload (the new version warmed on the node's recent bars, then adopting the running
    evaluator's state) keeps a model whose features, target and schedule did not change: its
    predictions go on exactly as the batch evaluator's, instead of starting untrained."""
    old_doc = strategy()
    new_doc = old_doc.replace("long: pred.value > 0.55", "long: pred.value > 0.6")
    old, new = compile_strategy_text(old_doc, "s.yaml"), compile_strategy_text(new_doc, "s.yaml")
    whole = np.asarray(evaluate(new.plan, bars)[new.plan.named["pred"]])
    running = StreamEvaluator(old.plan)
    cut = 900
    for k in range(cut):
        running.update(int(bars.ts[k]), bars.open[k], bars.high[k], bars.low[k], bars.close[k], bars.volume[k])
    reloaded, cold = StreamEvaluator(new.plan), StreamEvaluator(new.plan)
    for ev in (reloaded, cold):
        for k in range(cut - 50, cut):                 # the bars the node has cached
            ev.update(int(bars.ts[k]), bars.open[k], bars.high[k], bars.low[k], bars.close[k], bars.volume[k])
    taken = reloaded.adopt_state(running.state())
    assert any(key.startswith("learn:") for key in taken)
    seen, cold_seen = [], []
    for k in range(cut, len(bars)):
        for ev, out in ((reloaded, seen), (cold, cold_seen)):
            ev.update(int(bars.ts[k]), bars.open[k], bars.high[k], bars.low[k], bars.close[k], bars.volume[k])
            out.append(ev.value(new.plan.named["pred"]))
    assert np.array_equal(np.array(seen), whole[cut:], equal_nan=True)
    assert np.isnan(cold_seen[0])                       # without it: untrained after the reload


# ---------------------------------------------------------------------- streaming == batch, any schedule
@pytest.mark.parametrize("kind", ["linear", "lightgbm", "lstm"])
def test_the_streaming_model_retrains_at_the_batch_bars_for_any_schedule(kind: str) -> None:
    """Random (train_bars, horizon, embargo, retrain_every), retrain_every beyond the training
    window included (it once moved the streaming bar counter past the rows it dropped, so the next
    training came early): the bar-by-bar model predicts what the batch walk-forward predicts."""
    if kind == "lstm":
        needs_torch()
    rng = np.random.default_rng({"linear": 1, "lightgbm": 2, "lstm": 3}[kind])
    params = {"lstm": (("seq_len", 3.0), ("hidden", 3.0), ("epochs", 3.0))}.get(kind, ())
    cases = 10 if kind != "lstm" else 3
    long_steps = 0
    for _ in range(cases):
        train, horizon, embargo = int(rng.integers(30, 80)), int(rng.integers(1, 8)), int(rng.integers(0, 6))
        window = train + horizon + embargo
        step = int(rng.integers(1, 3 * window))
        long_steps += step > window
        n = 2 * window + 2 * step + int(rng.integers(0, 40))
        close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        x = rng.normal(size=(n, 2))
        x[:int(rng.integers(0, 10))] = np.nan             # a warm-up, as indicators have
        spec = L.Spec(kind, "up", horizon, train, step, params, 7, 0, embargo)
        batch = L.walk_forward(spec, x, close)
        online = L.Online(spec)
        stream = np.array([online(float(close[k]), *map(float, x[k])) for k in range(n)])
        assert np.array_equal(stream, batch, equal_nan=True), (train, horizon, embargo, step)
        assert np.isfinite(batch).sum() > 0
    assert long_steps > 0                                  # the case that once diverged was drawn
