"""``wharf registry gc``: unreferenced blobs go, referenced ones stay; --dry-run deletes nothing."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from regutil import digest, push_blob, push_image, registry
from wharf.cli.commands import registry as command
from wharf.cli.errors import CommandError


def gc(root: Path, dry_run: bool) -> int:
    return command.run(SimpleNamespace(action="gc", root=str(root), dry_run=dry_run), None)


async def test_gc_sweeps_only_unreferenced_blobs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with registry(tmp_path) as c:
        manifest, _ = await push_image(c, "app", "v1", layer=b"kept layer")
        orphan = await push_blob(c, "app", b"orphan layer")
        untagged, _ = await push_image(c, "app", "v2", layer=b"deleted image layer")
        assert (await c.delete(f"/v2/app/manifests/{untagged}")).status == 202

    assert gc(tmp_path, dry_run=True) == 0
    out = capsys.readouterr().out
    eligible = {line.split(": ")[1] for line in out.splitlines() if line.startswith("blob eligible")}
    assert eligible == {orphan, untagged, digest(b"deleted image layer")}
    assert "dry run" in out
    assert (tmp_path / "blobs" / "sha256" / orphan.split(":")[1]).exists()

    assert gc(tmp_path, dry_run=False) == 0
    async with registry(tmp_path) as c:
        assert (await c.head(f"/v2/app/blobs/{orphan}")).status == 404
        assert (await c.head(f"/v2/app/blobs/{digest(b'kept layer')}")).status == 200
        r = await c.get("/v2/app/manifests/v1")
        assert r.status == 200 and r.headers["Docker-Content-Digest"] == manifest
    assert not (tmp_path / "blobs" / "sha256" / orphan.split(":")[1]).exists()


async def test_gc_purges_abandoned_uploads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with registry(tmp_path) as c:
        old = (await c.post("/v2/app/blobs/uploads/")).headers["Location"]
        fresh = (await c.post("/v2/app/blobs/uploads/")).headers["Location"]
        old_id = old.rsplit("/", 1)[1]
        week_ago = time.time() - 8 * 24 * 3600
        os.utime(tmp_path / "uploads" / old_id / "data", (week_ago, week_ago))
    assert gc(tmp_path, dry_run=True) == 0
    assert f"stale upload eligible for deletion: {old_id}" in capsys.readouterr().out
    assert gc(tmp_path, dry_run=False) == 0
    async with registry(tmp_path) as c:
        assert (await c.get(old)).status == 404
        assert (await c.get(fresh)).status == 204


def test_unknown_subcommand_and_missing_root(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="'registry nope' is not a wharf command"):
        command.run(SimpleNamespace(action="nope"), None)
    with pytest.raises(CommandError, match="no registry storage at"):
        gc(tmp_path / "missing", dry_run=True)
    assert not (tmp_path / "missing").exists()
