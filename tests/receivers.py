"""Record what a Django signal sends, through a real connected receiver."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def receiving(signal):
    """`with receiving(user_logged_in) as calls:` -> each call's keyword arguments, `sender` included."""
    calls: list[dict] = []

    def receiver(**kwargs):
        kwargs.pop("signal")
        calls.append(kwargs)

    signal.connect(receiver, weak=False)
    try:
        yield calls
    finally:
        signal.disconnect(receiver)
