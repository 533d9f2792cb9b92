"""The running replays and paper exchanges of this process, by name: the replay data client finds
its feed here and the feed finds the sandbox exchange it drives (one home for both, so that
``replay`` and ``sandbox`` do not import each other)."""

from __future__ import annotations

from typing import Any

#: replay feeds by name (:class:`autobot.live.replay.ReplayFeed`), registered by the runner
FEEDS: dict[str, Any] = {}
#: running sandbox execution clients by venue (:class:`autobot.live.sandbox.BarSandboxExecutionClient`)
SANDBOXES: dict[str, Any] = {}
