"""Registry mirrors: which URLs dockerd accepts (and how it keeps them), and the
order a docker.io pull tries its endpoints in."""

from __future__ import annotations

import pytest

from wharf.registry.client.endpoints import Endpoint, pull_endpoints, validate_mirror


def test_mirror_urls_as_dockerd_keeps_them() -> None:
    assert validate_mirror("http://127.0.0.1:5155") == "http://127.0.0.1:5155/"
    assert validate_mirror("https://mirror.example/") == "https://mirror.example/"
    refused = {
        "ftp://m": 'invalid mirror: unsupported scheme "ftp" in "ftp://m"',
        "mirror.example": 'invalid mirror: unsupported scheme "" in "mirror.example"',
        "https://m/v2": 'invalid mirror: path, query, or fragment at end of the URI "https://m/v2"',
        "https://m/?x=1": 'invalid mirror: path, query, or fragment at end of the URI "https://m/?x=1"',
        "https://u:pw@m:5000": 'invalid mirror: username/password not allowed in URI "https://u:xxxxx@m:5000"',
    }
    for url, message in refused.items():
        with pytest.raises(ValueError) as e:
            validate_mirror(url)
        assert str(e.value) == message


def test_docker_hub_pulls_try_mirrors_in_order_then_the_hub() -> None:
    mirrors = ["http://127.0.0.1:5155/", "https://mirror.example/"]
    assert pull_endpoints("docker.io", mirrors) == [
        Endpoint("127.0.0.1:5155", "http", mirror=True),
        Endpoint("mirror.example", "https", mirror=True),
        Endpoint("registry-1.docker.io"),
    ]
    assert pull_endpoints("docker.io", []) == [Endpoint("registry-1.docker.io")]
    assert pull_endpoints("127.0.0.1:5000", mirrors) == [Endpoint("127.0.0.1:5000")]
