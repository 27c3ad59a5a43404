"""The SSRF guard: only public addresses, resolved, unless an admin allows the host."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from datagems_core.errors import BadRequest
from datagems_core.inference.url_guard import check_base_url, is_public_address


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "224.0.0.1",
        "0.0.0.0",
        "::1",
        "::",
        "fd00:ec2::254",
        "fc00::1",
        "fe80::1",
        "ff02::1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",
        "2002:a00:1::",
    ],
)
def test_is_public_address_refuses_internal(address):
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_is_public_address_accepts_public(address):
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://8.8.8.8/v1", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("https://user:pw@8.8.8.8/v1", "user name or password"),
        ("http://localhost:8000", "local or internal"),
        ("http://gpu.corp/v1", "local or internal"),
        ("http://metadata.google.internal/", "local or internal"),
        ("http://169.254.169.254/latest", "non-public"),
        ("http://[fd00:ec2::254]/", "non-public"),
        ("http://10.0.0.7:8000/v1", "non-public"),
        ("http://8.8.8.8:notaport/", "not a valid URL"),
    ],
)
async def test_check_base_url_refuses(url, problem):
    with pytest.raises(BadRequest, match=problem) as refused:
        await check_base_url(url)
    assert refused.value.details == {"field": "baseUrl"}


async def test_check_base_url_resolves_names():
    # this machine's own name resolves to a loopback or private address: the name alone
    # looks harmless, the resolved address does not
    with pytest.raises(BadRequest, match=r"non-public|cannot be resolved"):
        await check_base_url(f"http://{socket.gethostname()}:8000/v1")


async def test_check_base_url_accepts_public_and_allowed_hosts():
    assert await check_base_url("https://8.8.8.8/v1/") == "https://8.8.8.8/v1"
    allowed = await check_base_url("http://127.0.0.1:9000/v1", allowed_hosts=["127.0.0.1"])
    assert allowed == "http://127.0.0.1:9000/v1"
