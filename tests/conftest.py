"""Shared fixtures: a throwaway TLS certificate authority for wss:// tests."""

from __future__ import annotations

import ssl

import pytest
import trustme
from hypothesis import settings

# No property test checks timing: Hypothesis's default 200 ms deadline per example
# only turns a loaded CI machine into a DeadlineExceeded failure.
settings.register_profile("trio_realtime", deadline=None)
settings.load_profile("trio_realtime")


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    """A certificate authority made up for this test run."""
    return trustme.CA()


@pytest.fixture(scope="session")
def server_ssl_context(tls_ca: trustme.CA) -> ssl.SSLContext:
    """Server-side TLS for ``127.0.0.1`` and ``localhost``, signed by `tls_ca`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture(scope="session")
def client_ssl_context(tls_ca: trustme.CA) -> ssl.SSLContext:
    """Client-side TLS that verifies certificates and trusts only `tls_ca`."""
    context = ssl.create_default_context()
    tls_ca.configure_trust(context)
    return context
