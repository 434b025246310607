"""Secrets given inline (``secret: ...``) or read from a file (``secret_file: /run/secrets/x``)."""

from __future__ import annotations

import os
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


def resolve_credential(
    inline: SecretStr | None,
    path: Path | None,
    env: str | None,
    field: str,
    *,
    required: bool,
) -> SecretStr | None:
    """Return the secret from exactly one of ``field``, ``field_file`` and ``field_env``
    (the name of an environment variable holding it).

    Raises:
        ValueError: several or (when required) none are given, a file cannot be read, or
            the variable is not set.
    """
    if env is None:
        return resolve_secret(inline, path, field, required=required)
    if inline is not None or path is not None:
        raise ValueError(f"give only one of {field}, {field}_file and {field}_env")
    value = os.environ.get(env)
    if not value:
        raise ValueError(f"{field}_env names {env!r}, which is not set in the environment")
    return SecretStr(value.strip())
