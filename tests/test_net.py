"""Caller-given URLs are checked against the allowlist; link-local and metadata addresses never pass."""

from __future__ import annotations

import pytest

from mcp_server.core.errors import InvalidInput
from mcp_server.core.net import check_url

ALLOW = ["127.0.0.1", "localhost", "*.corp.example", "169.254.169.254"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000", "https://localhost/x", "https://s3.corp.example/b"])
def test_allowed(url: str) -> None:
    assert check_url(url, ALLOW) == url


@pytest.mark.parametrize(
    "url, needle",
    [
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("http://[fe80::1]/", "link-local"),
        ("http://metadata.google.internal/", "metadata"),
        ("http://10.0.0.5:9000", "not on the URL allowlist"),
        ("http://corp.example.evil.com/", "not on the URL allowlist"),
        ("file:///etc/passwd", "must use"),
        ("http:///nohost", "no host"),
    ],
)
def test_refused(url: str, needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle):
        check_url(url, ALLOW)
