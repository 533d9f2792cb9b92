"""What several commands read from their command line: the example data, ``--data`` bindings,
``--instrument`` / ``--venue``, range checks and the progress bar (shared by ``backtest``,
``backtest --policy``, book backtests, ``signals``, ``optimize``, ``discover`` and ``live``; one
home, so no command module imports another's)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Optional

from autobot.cli.output import fail_usage
from autobot.documents.models import MAX_CAPITAL

EXAMPLE_DATA = Path("examples") / "data" / "btcusd_coinbase_1h_2018_2019.csv"   # real (examples/data/README.md)

OPTION_RANGES: dict[str, tuple[float, float, bool]] = {
    "--capital": (0.0, MAX_CAPITAL, False), "--leverage": (0.0, 125.0, False), "--slippage": (0.0, 1.0, True),
    "--maker-fee": (-0.01, 0.1, True), "--taker-fee": (-0.01, 0.1, True),
    "--price-precision": (0, 9, True), "--size-precision": (0, 9, True),
}


def example_data(strategy: Path) -> Path:
    """The example bars shipped with the project (found from the strategy, the cwd, or the package)."""
    from autobot.workspace import find_project_root
    candidates = [find_project_root(strategy.parent) / EXAMPLE_DATA, find_project_root() / EXAMPLE_DATA,
                  Path(__file__).resolve().parents[2] / EXAMPLE_DATA]
    return next((c for c in candidates if c.is_file()), candidates[-1])


def split_data(data: list[str]) -> tuple[dict[str, Path], list[Path]]:
    """``--data`` values as ``INSTRUMENT_ID=FILE`` bindings and plain files."""
    bound: dict[str, Path] = {}
    plain: list[Path] = []
    for item in data:
        head, sep, tail = item.partition("=")
        if sep and "." in head and "/" not in head and "\\" not in head:
            bound[head] = Path(tail)
        else:
            plain.append(Path(item))
    return bound, plain


UNIVERSE_SUFFIXES = (".csv", ".csv.gz", ".txt")
MAX_UNIVERSE_FILES = 1000


def universe_files(specs: list[str], venue: str) -> dict[str, Path]:
    """``--universe DIR | FILE... | ID=FILE...`` as instrument id -> file: a folder's bar files
    (``.csv``, ``.csv.gz``, ``.txt``; sorted by name), or files; a file's instrument id is its
    name's first part upper-cased, on ``venue`` (``aapl_1d.csv`` -> ``AAPL.<venue>``), unless
    ``ID=FILE`` names it (an ``ID`` without a venue is put on ``venue``); a NautilusTrader catalog
    folder gives every instrument it holds bars of (its ids as written; ``ID=CATALOG`` one of them).
    Usage errors: a missing file, an empty folder, two files of one id."""
    from autobot.data.catalog import catalog_instruments, is_catalog
    out: dict[str, Path] = {}
    named: dict[str, str] = {}
    for spec in specs:
        head, sep, tail = spec.partition("=")
        items: list[tuple[str | None, Path]] = []
        plain: list[Path] = []
        if sep and head and "/" not in head and "\\" not in head and not Path(spec).exists():
            items.append((head if "." in head else f"{head.upper()}.{venue}", Path(tail)))
        else:
            plain.append(Path(spec))
        for path in plain:
            if is_catalog(path):                  # a Nautilus catalog: every instrument it has bars of
                ids = catalog_instruments(path)
                if not ids:
                    raise fail_usage(f"--universe {spec}: the catalog holds no bars")
                items.extend((iid, path) for iid in ids)
            elif path.is_dir():
                found = sorted(f for f in path.iterdir()
                               if f.is_file() and f.name.lower().endswith(UNIVERSE_SUFFIXES))
                if not found:
                    raise fail_usage(f"--universe {spec}: the folder holds no bar files (.csv, .csv.gz, .txt)")
                items.extend((None, f) for f in found)
            else:
                items.append((None, path))
        for iid, file in items:
            if not (file.is_file() or is_catalog(file)):
                raise fail_usage(f"--universe {spec}: no such file: {file}")
            if iid is None:
                symbol = file.name.split(".")[0].split("_")[0].split("-")[0].upper()
                if not symbol.isalnum():
                    raise fail_usage(f"--universe {spec}: cannot read an instrument from the file name "
                                     f"{file.name!r}: write ID=FILE (e.g. AAPL.{venue}={file})")
                iid = f"{symbol}.{venue}"
            iid = cli_instrument(iid, None)
            if iid in out:
                raise fail_usage(f"--universe: {file} and {named[iid]} are both {iid}: name one with ID=FILE")
            out[iid], named[iid] = file, str(file)
    if len(out) > MAX_UNIVERSE_FILES:
        raise fail_usage(f"--universe: {len(out):,} files; at most {MAX_UNIVERSE_FILES:,}")
    if not out:
        raise fail_usage("--universe: give a folder, files, or ID=FILE pairs")
    venues = sorted({iid.rsplit(".", 1)[1] for iid in out})
    if len(venues) > 1:
        raise fail_usage(f"--universe: a universe trades on one venue (one simulated account), got "
                         f"{', '.join(venues)}: put every ID=FILE on one venue")
    return out


def check_currency(currency: str) -> str:
    """``--currency`` as a Nautilus currency code (upper case), else a one-line usage error."""
    import re
    code = currency.strip().upper()
    if not re.fullmatch(r"[A-Z0-9]{3,5}", code):
        raise fail_usage(f"--currency {currency!r}: write a currency code of 3 to 5 letters or digits, e.g. USD, "
                         "EUR or USDT")
    return code


def check_ranges(values: dict[str, Any]) -> None:
    """Each given option inside its range (OPTION_RANGES), else a one-line usage error."""
    for name, value in values.items():
        if value is None:
            continue
        lo, hi, inclusive = OPTION_RANGES[name]
        ok = math.isfinite(value) and (lo <= value if inclusive else lo < value) and value <= hi
        if not ok:
            low = f"from {lo:g}" if inclusive else f"above {lo:g}"
            raise fail_usage(f"{name} {value:g}: give a number {low} up to {hi:g}")


def cli_instrument(iid: str, venue: Optional[str]) -> str:
    """An instrument id from the command line (or a document), moved to ``--venue`` if given;
    a usage error when it is not an id (whitespace, control characters, no venue)."""
    from autobot.venue.instruments import instrument_id_error, on_venue
    if venue is not None:
        problem = instrument_id_error(f"X.{venue}")
        if problem is not None:
            raise fail_usage(f"--venue {venue!r}: write a venue name like BINANCE or OANDA")
        iid = on_venue(iid, venue)
    problem = instrument_id_error(iid)
    if problem is not None:
        raise fail_usage(f"--instrument {problem}")
    return iid


def run_with_progress(run: Any, label: str = "backtest") -> Any:
    """A progress bar on a terminal (stderr); piped or written to a file, a line at each tenth of the
    work once it has run 5 s (a quick run stays quiet)."""
    if not sys.stderr.isatty():
        return run(_progress_lines(label))
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("bars", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
        return run(progress)


def _progress_lines(label: str, quiet_s: float = 5.0) -> Any:
    """A progress callback printing ``label: 40% (4,000 of 10,000), 12 s`` to stderr at each tenth."""
    import time
    started = time.monotonic()
    shown = [0]

    def progress(done: int, total: int) -> None:
        if total <= 0:
            return
        tenth = min(10, done * 10 // total)
        if tenth <= shown[0]:
            return
        elapsed = time.monotonic() - started
        if elapsed < quiet_s and (tenth < 10 or not shown[0]):
            return
        shown[0] = tenth
        print(f"{label}: {tenth * 10}% ({done:,} of {total:,}), {elapsed:.0f} s", file=sys.stderr, flush=True)
    return progress
