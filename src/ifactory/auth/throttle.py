"""Sign-in throttling: after repeated failed sign-ins, refuse more attempts for a while.

Guessing passwords online needs many attempts; OWASP's Authentication Cheat Sheet (account
lockout / login throttling) and NIST SP 800-63B §5.2.2 ("rate limiting") ask for a limit on
consecutive failed attempts. Two counters are kept, because each stops a different attack:

- per username (default 5 failures in 15 minutes): one account guessed from many addresses;
- per client address (default 20 failures in 15 minutes): many accounts tried from one address,
  set higher so that colleagues behind one NAT do not lock each other out.

A key over its limit is refused until its oldest counted failure leaves the window, so a
lockout ends by itself; a successful sign-in clears the username's failures. The state is kept
in memory, per process (a restart forgets it), which is what a single platform process needs;
refusals are answered before the password is checked, so they cost no hashing.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures within `window_s` each kind of key may have."""

    per_username: int = 5
    per_address: int = 20
    window_s: float = 15 * 60.0

    def __post_init__(self) -> None:
        if self.per_username < 1 or self.per_address < 1 or self.window_s <= 0:
            raise ValueError("limits must be >= 1 and the window positive")


class LoginThrottle:
    """Failed sign-ins per username and per client address over a sliding window (thread-safe)."""

    def __init__(
        self, policy: ThrottlePolicy | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy or ThrottlePolicy()
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, username: str, address: str | None) -> list[tuple[tuple[str, str], int]]:
        keys = [(("user", username), self.policy.per_username)]
        if address:
            keys.append((("address", address), self.policy.per_address))
        return keys

    def _recent(self, key: tuple[str, str], now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.policy.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def retry_after(self, username: str, address: str | None) -> float:
        """Seconds until an attempt for `username` from `address` is allowed again (0: now)."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key, limit in self._keys(username, address):
                times = self._recent(key, now)
                if times is not None and len(times) >= limit:
                    # Allowed again when enough failures have left the window.
                    wait = max(wait, times[len(times) - limit] + self.policy.window_s - now)
        return wait

    def failed(self, username: str, address: str | None) -> None:
        """Count a failed attempt."""
        now = self._clock()
        with self._lock:
            for key, _ in self._keys(username, address):
                self._recent(key, now)
                self._failures.setdefault(key, deque()).append(now)
            if len(self._failures) > 100_000:  # bounded memory under a spray of usernames
                for key in list(self._failures):
                    self._recent(key, now)

    def succeeded(self, username: str) -> None:
        """A successful sign-in clears the username's failures (not the address's)."""
        with self._lock:
            self._failures.pop(("user", username), None)
