"""The server's background warm-up: once its first page run is over, import what other pages need and the
first page does not (transformers for the Generation page: about 4 s on 2 cores), so that a user's first
visit there does not wait for it. The first page itself imports none of it (see ui/verdict.py).
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_started = False


def start() -> None:
    """Start the warm-up thread, once per server process (later calls return at once)."""
    global _started
    with _lock:
        if _started:
            return
        _started = True
    threading.Thread(target=_warm, name="collapse-explorer-warm-up", daemon=True).start()


def _warm() -> None:
    # Imported here, in the thread: at module level it would put torch on the first screen's path.
    from core.models.text import preload

    try:
        preload()
    except ImportError:  # the page that needs transformers reports it; a warm-up has no one to tell
        return
