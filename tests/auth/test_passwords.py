"""Password hashing and token secrets."""

from __future__ import annotations

from argon2 import PasswordHasher

from ifactory.auth import passwords, tokens


def test_hashes_are_salted_argon2id_and_verify() -> None:
    first = passwords.hash_password("correct horse")
    second = passwords.hash_password("correct horse")

    assert first.startswith("$argon2id$") and first != second
    assert passwords.verify_password(first, "correct horse")
    assert not passwords.verify_password(first, "correct horsE")
    assert not passwords.verify_password(None, "correct horse")
    assert not passwords.verify_password("not a hash", "correct horse")


def test_the_default_parameters_are_production_strength() -> None:
    previous = passwords.use_hasher(PasswordHasher())
    try:
        default = passwords.hash_password("correct horse")
        assert passwords.verify_password(default, "correct horse")
        assert not passwords.needs_rehash(default)
    finally:
        passwords.use_hasher(previous)
    # A hash made with the defaults differs from the cheap test parameters: it would be renewed.
    assert passwords.needs_rehash(default)


def test_policy_bounds_password_length() -> None:
    assert passwords.check_policy("seven77") is not None
    assert passwords.check_policy("eight888") is None
    assert passwords.check_policy("x" * (passwords.MAX_LENGTH + 1)) is not None


def test_token_secrets_are_random_and_digested() -> None:
    first, second = tokens.generate(), tokens.generate()

    assert first != second and first.startswith(tokens.TOKEN_PREFIX)
    assert len(tokens.digest(first)) == 64 and tokens.digest(first) == tokens.digest(first)
    assert tokens.display_prefix(first) == first[: tokens.DISPLAY_LENGTH]
