"""TLS for client and replication traffic: the server's context from ``--tls-cert`` and
``--tls-key``, and the context a node (or ``dynovault promote``) verifies its peers with,
trusting ``--tls-ca`` when the cluster's certificates come from its own authority."""

from __future__ import annotations

import ssl
from pathlib import Path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def client_context(ca: Path | None) -> ssl.SSLContext | None:
    """None (the system's trust store) unless the cluster names its own CA."""
    if ca is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
