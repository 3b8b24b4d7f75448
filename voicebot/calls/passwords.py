"""Password hashes of the monitor's users (argon2), a leaf shared by the user CLI and the monitor's login."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("voicebot-dummy-password")  # keeps unknown-user logins as slow as known ones


def hash_password(password: str) -> str:
    """The argon2 hash stored for a new or changed password."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; an unknown user (no hash) costs the same time and fails."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
