"""Request authentication (SigV4)."""

from __future__ import annotations

from pathlib import Path

from dynovault.api.server import Authenticator


def authenticator_for(credentials_file: Path | None) -> Authenticator | None:
    return None
