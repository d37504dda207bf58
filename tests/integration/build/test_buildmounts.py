"""RUN --mount's secrets on a real tmpfs: the id a target-only mount names is its base name."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from wharf.build import runmount
from wharf.engine.buildmounts import BuildSession, CacheMounts, mounted


def test_a_secret_named_by_its_target_alone_is_mounted(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    caches = CacheMounts(str(tmp_path / "caches"), str(scratch))

    def no_source(_ref: str) -> contextlib.AbstractAsyncContextManager[str]:
        raise AssertionError("a secret reads no source tree")

    async def run() -> tuple[str, str, bytes]:
        m = runmount.parse("type=secret,target=/etc/token")
        async with mounted([m], "/", str(scratch), caches, BuildSession({"token": b"s3cret"}), no_source) as step:
            [entry] = step.mounts
            return entry["Target"], entry["Source"], Path(entry["Source"]).read_bytes()
    target, source, value = asyncio.run(run())
    assert (target, value) == ("/etc/token", b"s3cret")
    assert not Path(source).exists()  # the tmpfs is gone with the step


def test_a_private_cache_in_use_gives_a_throwaway_directory(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    caches = CacheMounts(str(tmp_path / "caches"), str(scratch))
    m = runmount.parse("type=cache,target=/c,sharing=private")

    async def run() -> tuple[str, str]:
        async with caches.use(m, None) as first:
            Path(first, "kept").write_text("x")
            async with caches.use(m, None) as second:
                assert not Path(second, "kept").exists()
        return first, second
    first, second = asyncio.run(run())
    assert Path(first, "kept").exists() and not Path(second).exists()
    assert caches.prune()[0] == ["/c"]  # no user left: the shared cache goes
