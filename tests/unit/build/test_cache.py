"""The build cache file: entries survive a reopen (a daemon restart); prune empties it."""

from __future__ import annotations

from wharf.build.cache import BuildCache


def test_entries_survive_reopen_and_prune(tmp_path):
    path = str(tmp_path / "builder" / "cache.json")
    cache = BuildCache(path)
    cache.put("sha256:k1", "sha256:img1")
    cache.put("sha256:k2", "sha256:img2")
    cache.forget("sha256:k2")
    again = BuildCache(path)
    assert again.get("sha256:k1") == "sha256:img1" and again.get("sha256:k2") is None
    assert again.prune() == ["sha256:k1"]
    assert BuildCache(path).get("sha256:k1") is None


def test_a_corrupt_file_is_an_empty_cache(tmp_path):
    path = tmp_path / "cache.json"
    path.write_text("{not json")
    assert BuildCache(str(path)).get("x") is None
