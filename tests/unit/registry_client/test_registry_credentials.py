"""docker's config.json: plain ``auths``, credential helpers, X-Registry-Auth."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from wharf.cli import credentials


@pytest.fixture
def config(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    return tmp_path / "cfg" / "config.json"


def test_store_get_erase_in_the_file(config: Path) -> None:
    assert credentials.get("127.0.0.1:5000") == {}
    assert credentials.store("http://127.0.0.1:5000/", "alice", "s3cret") is True
    doc = json.loads(config.read_text())
    assert doc["auths"]["127.0.0.1:5000"]["auth"] == base64.b64encode(b"alice:s3cret").decode()
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    assert credentials.get("127.0.0.1:5000") == {"serveraddress": "127.0.0.1:5000", "username": "alice",
                                                 "password": "s3cret"}
    credentials.store("", "hub", "pw")
    assert "https://index.docker.io/v1/" in json.loads(config.read_text())["auths"]
    assert credentials.get(credentials.registry_of("busybox"))["username"] == "hub"
    assert credentials.registry_of("127.0.0.1:5000/team/app") == "127.0.0.1:5000"
    assert credentials.erase("127.0.0.1:5000") is True
    assert credentials.erase("127.0.0.1:5000") is False
    assert json.loads(config.read_text())["auths"].keys() == {"https://index.docker.io/v1/"}


def test_other_keys_of_the_file_are_kept(config: Path) -> None:
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"psFormat": "{{.ID}}", "auths": {"https://r.example": {"auth": "eDp5"}}}))
    assert credentials.get("r.example")["username"] == "x"
    credentials.store("r.example", "u", "p")
    doc = json.loads(config.read_text())
    assert doc["psFormat"] == "{{.ID}}" and list(doc["auths"]) == ["r.example"]


def test_credential_helper(config: Path, tmp_path: Path, monkeypatch) -> None:
    store = tmp_path / "helper-store.json"
    helper = tmp_path / "bin" / "docker-credential-wharftest"
    helper.parent.mkdir()
    helper.write_text(f"""#!/usr/bin/env python3
import json, sys
path = {str(store)!r}
try:
    data = json.load(open(path))
except FileNotFoundError:
    data = {{}}
action, arg = sys.argv[1], sys.stdin.read().strip()
if action == "store":
    entry = json.loads(arg); data[entry["ServerURL"]] = entry
elif action == "get":
    if arg not in data:
        print("credentials not found in native keychain"); sys.exit(1)
    print(json.dumps(data[arg])); sys.exit(0)
elif action == "erase":
    data.pop(arg, None)
json.dump(data, open(path, "w"))
""")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}:{os.environ['PATH']}")
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"credHelpers": {"h:5000": "wharftest"}}))
    assert credentials.store("h:5000", "alice", "pw") is False
    assert json.loads(config.read_text())["auths"] == {"h:5000": {}}
    assert "pw" not in config.read_text()
    assert credentials.get("h:5000")["password"] == "pw"
    assert credentials.erase("h:5000") is True
    assert credentials.get("h:5000") == {}
    config.write_text(json.dumps({"credsStore": "missing-helper"}))
    with pytest.raises(credentials.CredentialsError, match="executable file not found"):
        credentials.get("h:5000")


def test_header_is_base64url_json() -> None:
    value = credentials.header({"username": "a", "password": "?>?"})
    assert json.loads(base64.urlsafe_b64decode(value)) == {"username": "a", "password": "?>?"}
