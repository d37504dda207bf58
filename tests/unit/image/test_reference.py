"""Reference parsing and normalisation as Docker's distribution grammar has it."""

import pytest

from wharf.errors import InvalidParameter
from wharf.image import reference


@pytest.mark.parametrize("text, full, familiar", [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("library/busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/foo/bar", "docker.io/foo/bar:latest", "foo/bar:latest"),
    ("localhost:5000/ns/app:v1", "localhost:5000/ns/app:v1", "localhost:5000/ns/app:v1"),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
    ("quay.io/a/b/c", "quay.io/a/b/c:latest", "quay.io/a/b/c:latest"),
    ("user/repo_name-x.y", "docker.io/user/repo_name-x.y:latest", "user/repo_name-x.y:latest"),
])
def test_normalises_like_docker(text: str, full: str, familiar: str) -> None:
    ref = reference.parse_tagged(text)
    assert str(ref) == full
    assert ref.familiar() == familiar


def test_port_without_path_is_a_tag() -> None:
    ref = reference.parse("localhost:5000")
    assert (ref.name, ref.tag) == ("docker.io/library/localhost", "5000")


def test_digest_reference_gets_no_default_tag() -> None:
    digest = "sha256:" + "a" * 64
    ref = reference.parse_tagged(f"busybox@{digest}")
    assert ref.tag is None and ref.digest == digest
    assert ref.familiar() == f"busybox@{digest}"


@pytest.mark.parametrize("bad, message", [
    ("Busybox", "repository name must be lowercase"),
    ("busy box", "invalid reference format"),
    ("busybox:", "invalid reference format"),
    ("-busybox", "invalid reference format"),
    ("", "invalid reference format"),
    ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
    ("busybox:" + "x" * 129, "invalid reference format"),
])
def test_rejects_invalid(bad: str, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        reference.parse(bad)


def test_image_ids() -> None:
    assert reference.is_image_id("sha256:" + "0" * 64)
    assert reference.is_image_id("0" * 64)
    assert not reference.is_image_id("0" * 12)
