"""The embedded system's own token issuer: a local signing key, and tokens of a role.

`scripts/run` creates the key under the data directory (`.unitrail/auth/`) once and hands its
public half to every service (`UNITRAIL_AUTH_PUBLIC_KEY_FILE`); `unitrail token` issues tokens
with it, and the CLI, the demo and the tests sign their own. A real deployment uses its identity
provider instead (`UNITRAIL_AUTH_JWKS_URL`), and no local key exists.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.runtime.auth import DEFAULT_AUDIENCE, LOCAL_ISSUER, Role

DEFAULT_TTL_SECONDS = 3600
KEY_ID = "unitrail-local-1"


SERVICE_TOKEN_TTL_SECONDS = 30 * 24 * 3600
"""A service's own token on the embedded system, written at every start."""


@dataclass(frozen=True)
class LocalIssuer:
    """An ES256 key pair in `directory` (the private half readable by its owner only)."""

    directory: Path

    @classmethod
    def of_data_dir(cls, data_dir: Path) -> LocalIssuer:
        return cls(data_dir / "auth")

    @property
    def private_key_file(self) -> Path:
        return self.directory / "signing-key.pem"

    @property
    def public_key_file(self) -> Path:
        return self.directory / "signing-key.pub.pem"

    @property
    def exists(self) -> bool:
        return self.private_key_file.exists() and self.public_key_file.exists()

    def ensure(self) -> LocalIssuer:
        """Create the key pair unless it exists: tokens issued before a restart stay valid."""
        if self.exists:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        descriptor = os.open(self.private_key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(private)
        self.public_key_file.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return self

    def issue(
        self,
        role: Role | str,
        subject: str,
        *,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        channel: str | None = None,
        more_roles: Sequence[Role] = (),
    ) -> str:
        """A signed token of `subject` in `role` and any `more_roles` (a `channel` token names
        its channel)."""
        role = Role(role)
        if role is Role.CHANNEL and not channel:
            raise ValueError("a channel token names its channel")
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": LOCAL_ISSUER,
            "aud": DEFAULT_AUDIENCE,
            "sub": subject,
            "roles": [str(role), *(str(more) for more in more_roles)],
            "iat": now,
            "exp": now + ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        if channel:
            claims["channel"] = channel
        return jwt.encode(
            claims,
            self.private_key_file.read_bytes(),
            algorithm="ES256",
            headers={"kid": KEY_ID},
        )

    def personal_data_token_file(self, *, ttl_seconds: int = SERVICE_TOKEN_TTL_SECONDS) -> Path:
        """A file with a fresh `personal-data` token for the services that ask for customers'
        keys (`UNITRAIL_PERSONAL_DATA_TOKEN_FILE`), readable by its owner only; written again
        at every start, as an identity provider's agent would keep it fresh."""
        return self.token_file(
            "personal-data", "unitrail-services", (Role.PERSONAL_DATA,), ttl_seconds=ttl_seconds
        )

    def token_file(
        self,
        name: str,
        subject: str,
        roles: Sequence[Role],
        *,
        ttl_seconds: int = SERVICE_TOKEN_TTL_SECONDS,
    ) -> Path:
        """A file `<name>.token` with a fresh token of `subject` in `roles`, readable by its
        owner only; written again at every start."""
        path = self.directory / f"{name}.token"
        first, *more = roles
        token = self.issue(first, subject, ttl_seconds=ttl_seconds, more_roles=more)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(token)
        return path


TOKEN_VARIABLE = "UNITRAIL_TOKEN"


def data_dir() -> Path:
    """Where `scripts/run` keeps its data, the local key among it."""
    return Path(os.environ.get("UNITRAIL_DATA_DIR", ".unitrail"))


def client_token(role: Role, subject: str, *, channel: str | None = None) -> str:
    """The bearer token a tool of this project calls the services with: `$UNITRAIL_TOKEN` when
    set (one from the identity provider), else one of `role` signed with the local key."""
    given = os.environ.get(TOKEN_VARIABLE)
    if given:
        return given
    issuer = LocalIssuer.of_data_dir(data_dir())
    if not issuer.exists:
        raise SystemExit(
            f"no token: set {TOKEN_VARIABLE} to a token from your identity provider, or run "
            f"where `scripts/run` keeps its local key ({issuer.directory}; UNITRAIL_DATA_DIR)"
        )
    return issuer.issue(role, subject, ttl_seconds=DEFAULT_TTL_SECONDS, channel=channel)


def user() -> str:
    """Who runs a tool, for the tokens it signs: the login name."""
    return os.environ.get("USER") or os.environ.get("LOGNAME") or "unitrail-cli"
