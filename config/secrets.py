"""Secrets given inline (``secret: ...``) or read from a file (``secret_file: /run/secrets/x``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr


def resolve_secret(
    inline: SecretStr | None, path: Path | None, field: str, *, required: bool
) -> SecretStr | None:
    """Return the secret from exactly one of ``field`` and ``field_file``.

    Raises:
        ValueError: both or (when required) neither are given, or the file cannot be read.
    """
    if inline is not None and path is not None:
        raise ValueError(f"give at most one of {field} and {field}_file")
    if path is not None:
        try:
            return SecretStr(path.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ValueError(f"cannot read {field}_file {str(path)!r}: {exc.strerror}") from None
    if inline is None and required:
        raise ValueError(f"one of {field} and {field}_file is required")
    return inline
