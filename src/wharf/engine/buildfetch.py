"""ADD's remote sources: an HTTP(S) URL downloaded, a git repository cloned.

Both land in a scratch directory of the build and are then copied like
context files. A URL's file is named after the last element of its path
(``__unnamed__`` without one, as BuildKit), is never unpacked, gets mode
0600 unless ``--chmod`` says otherwise, and, with ``--checksum``, must hash
to it. A git source (``https://host/repo.git#ref:subdir``, ``git@host:repo``,
``git://``) is cloned with the host's ``git``; one that cannot be fetched
fails the step with git's own reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import posixpath
import re
import shutil
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import aiohttp

from wharf.errors import InvalidParameter

_GIT = re.compile(r"^(git://|git@[^:]+:|ssh://)|^https?://[^#]+\.git(#.*)?$|^github\.com/")
_CHUNK = 1 << 16
_GIT_TIMEOUT = 300


def is_git(src: str) -> bool:
    return bool(_GIT.match(src))


def is_http(src: str) -> bool:
    return src.startswith(("http://", "https://")) and not is_git(src)


def check_checksum(sources: list[str], checksum: str) -> None:
    """ADD ``--checksum``'s rules (BuildKit's words; COPY has no such flag)."""
    if not checksum:
        return
    if len(sources) != 1:
        raise InvalidParameter("checksum can't be specified for multiple sources")
    if not (is_http(sources[0]) or is_git(sources[0])):
        raise InvalidParameter("checksum requires HTTP(S) or Git sources")
    if is_git(sources[0]):
        if not re.fullmatch(r"[0-9a-f]{7,64}", checksum):
            raise InvalidParameter(f"invalid checksum {checksum}: a git source's is a commit hash")
        return
    algorithm, _, value = checksum.partition(":")
    if algorithm not in ("sha256", "sha384", "sha512") or not re.fullmatch(r"[0-9a-f]+", value or "-"):
        raise InvalidParameter(f"invalid checksum digest format: {checksum}")


@dataclass
class Fetched:
    root: str  # where it landed
    rel: str  # the path under root to copy


async def download(url: str, scratch: str, checksum: str = "") -> Fetched:
    """``url``'s body into ``scratch``; mtime from Last-Modified, as Docker's ADD."""
    name = posixpath.basename(urlsplit(url).path) or "__unnamed__"
    path = os.path.join(scratch, name)
    algorithm = checksum.partition(":")[0] or "sha256"
    digest = hashlib.new(algorithm)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=300)) as http:
            async with http.get(url) as resp:
                if resp.status >= 400:
                    raise InvalidParameter(f"failed to GET {url} with status {resp.status} {resp.reason}")
                with open(path, "wb") as f:
                    async for chunk in resp.content.iter_chunked(_CHUNK):
                        digest.update(chunk)
                        await asyncio.to_thread(f.write, chunk)
                modified = resp.headers.get("Last-Modified")
    except aiohttp.ClientError as e:
        raise InvalidParameter(f"ADD failed: cannot download {url}: {e}") from None
    if checksum and f"{algorithm}:{digest.hexdigest()}" != checksum:
        raise InvalidParameter(f"digest mismatch {algorithm}:{digest.hexdigest()}: {checksum}")
    os.chmod(path, 0o600)
    if modified:
        try:
            stamp = parsedate_to_datetime(modified).timestamp()
            os.utime(path, (stamp, stamp))
        except (TypeError, ValueError):
            pass
    return Fetched(scratch, name)


async def clone(src: str, scratch: str, keep_git_dir: bool, checksum: str = "") -> Fetched:
    """A git source cloned (``#ref:subdir`` honoured), its ``.git`` dropped unless kept;
    ``checksum`` is the commit it must be (a prefix of its hash, as BuildKit)."""
    if shutil.which("git") is None:
        raise InvalidParameter(f"ADD failed: cannot fetch git repository {src}: git is not installed on the daemon's host")
    remote, _, fragment = src.partition("#")
    ref, _, subdir = fragment.partition(":")
    if remote.startswith("github.com/"):
        remote = "https://" + remote
    target = os.path.join(scratch, "git")
    args = ["git", "clone", "--quiet", "--recurse-submodules", *(["--branch", ref] if ref else [])]
    try:
        await _git(src, *args, "--depth", "1", "--", remote, target)
    except InvalidParameter as e:
        if "shallow" not in e.message:
            raise
        await asyncio.to_thread(shutil.rmtree, target, True)  # a server without shallow fetches: all of it
        await _git(src, *args, "--", remote, target)
    if checksum:
        commit = (await _git(src, "git", "-C", target, "rev-parse", "HEAD")).strip()
        if not commit.startswith(checksum):
            raise InvalidParameter(f"expected checksum to match {checksum}, got {commit}")
    if not keep_git_dir:
        await asyncio.to_thread(shutil.rmtree, os.path.join(target, ".git"), True)
    return Fetched(target, posixpath.normpath(subdir.strip("/")) if subdir else ".")


async def _git(src: str, *args: str) -> str:
    """Run git; its output, or the step fails with git's last line of complaint."""
    proc = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    try:
        out, err = await asyncio.wait_for(proc.communicate(), _GIT_TIMEOUT)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        out, err = b"", b"timed out"
    if proc.returncode != 0:
        reason = (err.decode(errors="replace").strip().splitlines() or ["git failed"])[-1]
        raise InvalidParameter(f"ADD failed: cannot fetch git repository {src}: {reason}")
    return out.decode(errors="replace")
