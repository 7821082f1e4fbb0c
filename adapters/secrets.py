"""Signing secrets sealed at rest (``domain.ports.SecretBox``) with Fernet (AES-128-CBC
and HMAC-SHA256, from ``cryptography``).

The key comes from configuration: ``KAIROS_SECRET_KEY``, one or more Fernet keys
separated by commas. The first seals; all of them open, so the operator rotates the
key by putting a new one first and re-sealing at leisure. ``kairos dev`` generates one
under its data folder. A wrong or missing key never reveals a secret: opening fails.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from domain.errors import Unavailable

ENV_KEY = "KAIROS_SECRET_KEY"


class FernetSecretBox:
    def __init__(self, keys: str) -> None:
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise ValueError(f"{ENV_KEY} is empty")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in parts])
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"{ENV_KEY} must be Fernet keys (32 url-safe base64 bytes): {exc}"
            ) from None

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise Unavailable(
                "a signing secret cannot be opened with the configured key "
                f"({ENV_KEY} changed without keeping the old key?)"
            ) from None


def key_file(root: Path) -> str:
    """The dev stack's key: read from ``root/secret.key``, created (0600) if missing."""
    path = root / "secret.key"
    if not path.exists():
        path.write_text(FernetSecretBox.generate_key() + "\n")
        path.chmod(0o600)
    return path.read_text().strip()
