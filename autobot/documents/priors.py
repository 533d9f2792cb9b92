"""A policy's evidence priors (``evidence_priors:``): a strategy's walk-forward out-of-sample record
from ``autobot optimize --json`` (its out-of-sample Sharpe and the span it covers), read, bounded,
when the policy is checked and loaded. The ``evidence`` allocation counts it
(:mod:`autobot.portfolio.evidence`)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

MAX_STUDY_BYTES = 64 * 1024 * 1024          # an optimize JSON with its trial list
DAYS_A_YEAR = 365.25


@dataclass(frozen=True)
class Prior:
    """An out-of-sample record: its annualised Sharpe and how many years it spans."""

    sharpe: float
    years: float
    source: str                  # the study file it came from


def read_prior(path: Path) -> Prior:
    """The out-of-sample record of an ``autobot optimize --json`` file (``oos.sharpe`` over
    ``oos.span_days``); ``ValueError`` saying what is missing."""
    from autobot.safeio import read_bounded
    try:
        doc = json.loads(read_bounded(path, MAX_STUDY_BYTES).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read it as an 'autobot optimize --json' file: {exc}") from None
    oos = doc.get("oos") if isinstance(doc, dict) else None
    sharpe = oos.get("sharpe") if isinstance(oos, dict) else None
    days = oos.get("span_days") if isinstance(oos, dict) else None
    if not isinstance(sharpe, (int, float)) or not isinstance(days, (int, float)) or not math.isfinite(sharpe) \
            or not (math.isfinite(days) and days > 0):
        raise ValueError("it holds no out-of-sample record ('oos' with 'sharpe' and 'span_days', as 'autobot "
                         "optimize --json' writes)")
    return Prior(float(sharpe), float(days) / DAYS_A_YEAR, str(path))


