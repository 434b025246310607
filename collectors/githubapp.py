"""GitHub App installation tokens for ``kind: github`` sources (``app:`` instead of ``token``).

An installation token lasts an hour. :class:`InstallationAuth` asks for one with a JSON
Web Token signed by the app's private key (RS256, ``iss`` the app's id, issued a minute
in the past against clock drift, valid nine minutes: GitHub refuses more than ten),
``POST /app/installations/{id}/access_tokens`` answering ``{token, expires_at}``; it
asks again five minutes before ``expires_at``, and at once after a 401 (a token revoked
early). The JWT is signed with PyJWT; the private key never leaves this module's object.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

import jwt
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from collectors.hosted import HttpClient
from config.secrets import resolve_credential
from monitor.errors import AuthFailed

__all__ = ["GitHubApp", "InstallationAuth"]

MARGIN = 300.0
"""Seconds before ``expires_at`` when a new installation token is asked for."""


class GitHubApp(BaseModel):
    """A GitHub App installed on the repository's owner, with read access to issues."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    app_id: int = Field(ge=1)
    installation_id: int = Field(ge=1)
    private_key: SecretStr | None = None
    private_key_file: Path | None = None
    private_key_env: str | None = None

    @model_validator(mode="after")
    def _key(self) -> GitHubApp:
        key = resolve_credential(
            self.private_key,
            self.private_key_file,
            self.private_key_env,
            "private_key",
            required=True,
        )
        assert key is not None
        if "PRIVATE KEY" not in key.get_secret_value():
            raise ValueError("private_key is not a PEM private key (the app's .pem file)")
        object.__setattr__(self, "private_key", key)
        object.__setattr__(self, "private_key_file", None)
        object.__setattr__(self, "private_key_env", None)
        return self

    def quota_key(self, api_url: str) -> str:
        """The installation's quota (its tokens change, its limits do not)."""
        raw = f"{api_url.rstrip('/')}\0app {self.app_id} installation {self.installation_id}"
        return hashlib.sha256(raw.encode()).hexdigest()


class AppJwt:
    """A fresh JSON Web Token for each request to the app's own endpoints."""

    def __init__(self, app: GitHubApp, clock: Callable[[], float]) -> None:
        self._app = app
        self._clock = clock

    def headers(self) -> Mapping[str, str]:
        assert self._app.private_key is not None
        now = int(self._clock())
        claims = {"iat": now - 60, "exp": now + 540, "iss": str(self._app.app_id)}
        token = jwt.encode(claims, self._app.private_key.get_secret_value(), algorithm="RS256")
        return {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}

    def renew(self) -> bool:
        return False


class InstallationAuth:
    """Installation tokens, renewed before they expire and after a 401."""

    def __init__(
        self, app: GitHubApp, app_client: HttpClient, source: str, clock: Callable[[], float]
    ) -> None:
        self._app = app
        self._client = app_client
        self._source = source
        self._clock = clock
        self._token: str | None = None
        self._expires = 0.0

    def headers(self) -> Mapping[str, str]:
        if self._token is None or self._clock() >= self._expires - MARGIN:
            self.renew()
        return {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }

    def renew(self) -> bool:
        path = f"/app/installations/{self._app.installation_id}/access_tokens"
        answer = self._client.post("app/access_tokens", path)
        try:
            token = str(answer["token"])
            expires = datetime.fromisoformat(str(answer["expires_at"]).replace("Z", "+00:00"))
        except (TypeError, KeyError, ValueError):
            raise AuthFailed(f"{self._source}: GitHub gave no installation token") from None
        self._token, self._expires = token, expires.timestamp()
        return True
