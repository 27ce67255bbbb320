"""API token secrets: generated once, shown once, stored only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "ifk_"
DISPLAY_LENGTH = 12  # "ifk_" and 8 characters: enough to tell tokens apart, useless to guess
MAX_LENGTH = 200


def generate() -> str:
    """A new token secret with 256 bits of entropy."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored and looked up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def display_prefix(token: str) -> str:
    """The start of a token, kept so that users can recognise it in lists."""
    return token[:DISPLAY_LENGTH]
