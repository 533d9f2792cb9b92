"""Import TA-Lib without letting it pull in pandas or polars.

``import talib`` imports pandas and polars when they are installed (about 0.3 s) only
to accept their Series as input. AutoBot always passes numpy arrays, and
``autobot validate`` must stay fast, so while TA-Lib is first imported those two
modules are marked unavailable; they stay importable for everyone else afterwards.
"""

from __future__ import annotations

import sys
from types import ModuleType


def _import() -> tuple[ModuleType, ModuleType, ModuleType]:
    blocked = [m for m in ("pandas", "polars") if m not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import talib as _talib
        import talib.abstract as _abstract
        import talib.stream as _stream
    finally:
        for name in blocked:
            if sys.modules.get(name) is None:
                del sys.modules[name]
    return _talib, _abstract, _stream


talib, abstract, stream = _import()
