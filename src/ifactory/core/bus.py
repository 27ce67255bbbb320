"""The in-process event bus: typed events, subscriptions by type, isolated listeners."""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections.abc import Callable

from ifactory.core.events import Event

log = logging.getLogger(__name__)

Handler = Callable[[Event], None]


class EventBus:
    """Publish/subscribe within one process.

    `subscribe` takes an event type (a glob such as "machine.*" or "*" is allowed) and
    returns a callable that unsubscribes. A listener that raises is logged and the
    others still run: one broken consumer must not stop the plant's events.
    """

    def __init__(self) -> None:
        self._subs: dict[int, tuple[str, Handler]] = {}
        self._next = 0
        self._lock = threading.Lock()

    def subscribe(self, pattern: str, handler: Handler) -> Callable[[], None]:
        """Call `handler` for each published event whose type matches `pattern`."""
        with self._lock:
            token = self._next
            self._next += 1
            self._subs[token] = (pattern, handler)

        def unsubscribe() -> None:
            with self._lock:
                self._subs.pop(token, None)

        return unsubscribe

    def publish(self, event: Event) -> None:
        """Deliver `event` to every matching listener, in subscription order."""
        with self._lock:
            targets = [
                h
                for p, h in self._subs.values()
                if p == event.type or fnmatch.fnmatchcase(event.type, p)
            ]
        for handler in targets:
            try:
                handler(event)
            except Exception:
                log.exception(
                    "event listener %r failed on %s %s", handler, event.type, event.event_id
                )
