"""Runs a Dockerfile build: stages, steps, the cache, and Docker's classic output.

Each step makes an image, as Docker's classic builder does: config-only
instructions commit a config with no layer; RUN runs the command in a
container made by the container service (the same isolation as ``run``) and
commits its writable layer; COPY, ADD and WORKDIR write into a mounted rw
snapshot of the current image and commit it. Every step is first looked up
in the build cache by its key (parent image + step config, with the source
checksums in the ``#(nop) COPY`` text); a hit reuses the image and prints
``Using cache``. Only the stages the target needs are built.

Messages go to ``emit`` as Docker's JSON stream messages (``{"stream":
...}``, ``{"aux": {"ID": ...}}``); failures raise, and the API turns them
into an ``errorDetail`` message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, AsyncIterator, Awaitable, BinaryIO, Callable

from wharf import __version__
from wharf.build import checksum, config_ops, context, copier, received, runmount
from wharf.build.cache import BuildCache
from wharf.build.config_ops import ImageState
from wharf.build.expand import BuildArgs, declare_meta_args, expand, expand_from, expand_heredoc, \
    run_history_cmd, step_env
from wharf.build.instructions import Dockerfile, Instruction, Stage, check_run_flags, parse_ast, parse_dockerfile
from wharf.build.parser import parse, parse_heredoc_word
from wharf.config import DaemonConfig
from wharf.engine import buildfetch, buildmounts
from wharf.engine import logs as logreader
from wharf.engine.buildmounts import BuildSession, CacheMounts
from wharf.engine.containers import ContainerService
from wharf.engine.distribution import parse_platform
from wharf.engine.images import ImageService, short_id
from wharf.engine.timefmt import rfc3339nano
from wharf.errors import InvalidParameter, NotFound, WharfError
from wharf.fsutil import empty_dir
from wharf.image import layerdiff, reference
from wharf.image.manifest import host_arch
from wharf.image.snapshot import Diff
from wharf.linux import mountinfo, syscalls
from wharf.threads import in_own_thread

Emit = Callable[[dict[str, Any]], Awaitable[None]]
_SNAPSHOT_PREFIX = "wharf-build-"  # rw snapshots of COPY/ADD/WORKDIR steps


class StepFailed(WharfError):
    """A RUN that exited non-zero: Docker's message, its exit code as the error code."""

    status = 500

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class BuildOptions:
    tags: list[str] = field(default_factory=list)
    dockerfile: str = "Dockerfile"
    buildargs: dict[str, str | None] = field(default_factory=dict)
    target: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    quiet: bool = False
    nocache: bool = False
    rm: bool = True
    forcerm: bool = False
    network: str = ""
    #: ``--add-host`` entries (``name:ip``) in every RUN step's /etc/hosts.
    extra_hosts: list[str] = field(default_factory=list)
    #: ``--cache-from``: when given, the only images (with their ancestors) a cache hit may be.
    cache_from: list[str] = field(default_factory=list)
    #: Secrets and ssh agents lent by the client, and the entitlements it asked for.
    session: BuildSession = field(default_factory=BuildSession)
    #: Fetches an image a FROM or COPY --from names that is not here (the API gives the
    #: distribution service's pull, with the request's registry credentials); None: never.
    pull: Callable[[str, str, Emit], Awaitable[None]] | None = None


class Builder:
    def __init__(self, config: DaemonConfig, images: ImageService, containers: ContainerService) -> None:
        root = os.path.join(config.data_root, "builder")
        self.tmp = os.path.join(root, "tmp")
        self.cache = BuildCache(os.path.join(root, "cache.json"))
        self.caches = CacheMounts(os.path.join(root, "mounts"), self.tmp)
        self._discards: set[asyncio.Future[None]] = set()
        self.images = images
        self.containers = containers
        self._collect_leftovers()

    def _collect_leftovers(self) -> None:
        """What a daemon that died mid-build left: mounts and rw snapshots of build steps."""
        for target in mountinfo.below(self.tmp):
            syscalls.umount2(target, syscalls.MNT_DETACH)
        empty_dir(self.tmp)  # kept, not re-made: a start on a full disk needs no block
        snapshots = self.images.store.snapshots
        for sid in snapshots.ids():
            if sid.startswith(_SNAPSHOT_PREFIX):
                snapshots.remove(sid)

    async def build(self, stream: BinaryIO, opts: BuildOptions, emit: Emit) -> str:
        """Build from a context tar; returns the image ID (tagged as ``opts.tags``)."""
        refs = [reference.parse_tagged(t) for t in opts.tags]  # bad tags fail before any work
        for entitlement in opts.session.allow:
            if entitlement != "network.host":
                raise InvalidParameter(f"granting entitlement {entitlement} is not allowed by build daemon configuration")
        workdir = await asyncio.to_thread(tempfile.mkdtemp, dir=self.tmp)
        try:
            ctx = os.path.join(workdir, "context")
            os.mkdir(ctx)
            got = await in_own_thread(received.receive, stream, ctx)
            if "local" in opts.session.contexts.values():  # --build-context name=DIR trees
                await asyncio.to_thread(got.to_disk)
                named = os.path.join(ctx, context.NAMED_CONTEXTS)
                await asyncio.to_thread(os.rename, named, os.path.join(workdir, "contexts"))
            name = opts.dockerfile or "Dockerfile"
            text = await asyncio.to_thread(got.dockerfile, name)
            await asyncio.to_thread(got.drop_ignored_build_files, name)
            dockerfile = parse_dockerfile(text)
            image_id = await _Build(self, dockerfile, got, opts, emit).run()
        finally:
            self._discard(workdir)
        if opts.quiet:
            await emit({"stream": image_id + "\n"})
        else:
            await emit({"aux": {"ID": image_id}})
            await emit({"stream": f"Successfully built {short_id(image_id)}\n"})
        for ref in refs:
            await self.images.tag(image_id, ref.familiar())
            if not opts.quiet:
                await emit({"stream": f"Successfully tagged {ref.familiar()}\n"})
        return image_id

    def _discard(self, path: str) -> None:
        """Delete a build's scratch in the background: freeing a context's blocks took
        a tenth of a second that the client waited for (the scratch is emptied at start,
        so a deletion cut short by a crash is finished then)."""
        task = asyncio.ensure_future(asyncio.to_thread(shutil.rmtree, path, True))
        self._discards.add(task)
        task.add_done_callback(self._discards.discard)

    def prune(self) -> dict[str, Any]:
        """``POST /build/prune``: forget the cache and remove the cache mounts not in use
        (the images stay until ``image prune``)."""
        mounts, freed = self.caches.prune()
        return {"CachesDeleted": self.cache.prune() + mounts or None, "SpaceReclaimed": freed}

    async def export_rootfs(self, ref: str, out: BinaryIO) -> None:
        """``wharf build --output``'s source: the image's whole filesystem as one tar."""
        image_id = (await self.images.get(ref)).id
        async with self.rootfs(image_id) as (root, _diff):
            def write() -> None:
                with layerdiff.LayerTarWriter(out) as tar:
                    tar.add_merged([root])
            await in_own_thread(write)

    # -- image commits -------------------------------------------------------
    async def commit(self, parent_id: str, state: ImageState, run_config: dict[str, Any],
                     diff: Diff | None, container: str = "") -> str:
        """A new image on ``parent_id``: ``diff``'s changes as a layer (none if empty)."""
        store = self.images.store
        return await self.images.commit_diff(
            parent_id, diff, lambda parent, layer: store.create(
                _image_config(parent, state, run_config, layer, container), parent=parent_id))

    @contextlib.asynccontextmanager
    async def rootfs(self, image_id: str) -> AsyncIterator[tuple[str, Diff]]:
        """The image's tree, writable: (its root, the changes made there, read when asked)."""
        base = await asyncio.to_thread(tempfile.mkdtemp, dir=self.tmp)
        chains = (await self.images.get(image_id)).chain_ids if image_id else []
        try:
            if not chains:  # FROM scratch: a plain directory is the whole tree
                root = os.path.join(base, "root")
                os.mkdir(root, 0o755)
                yield root, layerdiff.UpperDiff(root)
                return
            sid = _SNAPSHOT_PREFIX + secrets.token_hex(8)
            target = os.path.join(base, "merged")
            await self.images.create_rw_layer(sid, image_id)
            try:
                await self.images.mount_rw_layer(sid, target)
                try:
                    yield target, self.images.store.snapshots.diff(sid)
                finally:
                    await self.images.unmount_rw_layer(sid, target)
            finally:
                await self.images.remove_rw_layer(sid)
        finally:
            await asyncio.to_thread(shutil.rmtree, base, True)


def _image_config(parent: Any, state: ImageState, run_config: dict[str, Any], layer: Any,
                  container: str) -> dict[str, Any]:
    created = rfc3339nano(time.time_ns())
    base = parent.config if parent else {}
    entry: dict[str, Any] = {"created": created, "created_by": " ".join(run_config.get("Cmd") or [])}
    if state.author:
        entry["author"] = state.author
    if layer is None:
        entry["empty_layer"] = True
    config = {
        "architecture": base.get("architecture") or host_arch(), "os": "linux",
        "config": state.config, "container": container, "container_config": run_config,
        "created": created, "docker_version": __version__,
        "history": (parent.history if parent else []) + [entry],
        "rootfs": {"type": "layers",
                   "diff_ids": (parent.diff_ids if parent else []) + ([layer.diff_id] if layer else [])},
    }
    if state.author:
        config["author"] = state.author
    return config


class _Build:
    """One build's progress: the step counter, each stage's image, the current state."""

    def __init__(self, builder: Builder, dockerfile: Dockerfile, ctx: received.ReceivedContext,
                 opts: BuildOptions, emit: Emit) -> None:
        self.b, self.df, self.ctx, self.opts, self._emit = builder, dockerfile, ctx, opts, emit
        self.args = BuildArgs(opts.buildargs)
        self.stage_images: dict[int, str] = {}
        self.step = 0
        self.total = 0
        self.current = ""
        self.state = ImageState()
        self.stage_args = self.args
        self._cache_sources: set[str] | None = None  # from opts.cache_from, found at the first lookup

    async def say(self, text: str) -> None:
        if not self.opts.quiet:
            await self._emit({"stream": text})

    async def run(self) -> str:
        declare_meta_args(self.df.meta_args, self.args, self.df.escape)
        target = self.df.stage(self.opts.target) if self.opts.target else self.df.stages[-1]
        if target is None:
            raise InvalidParameter(f"failed to reach build target {self.opts.target} in Dockerfile")
        if self.opts.labels:
            line = "LABEL " + " ".join(f"{json.dumps(k)}={json.dumps(v)}" for k, v in sorted(self.opts.labels.items()))
            target.instructions = target.instructions + parse_ast(parse(line))
        stages = self._needed(target)
        self.total = sum(1 + len(s.instructions) for s in stages)
        for stage in stages:
            await self._stage(stage)
        if warning := self.args.unused_warning():
            await self.say(warning + "\n")
        return self.stage_images[target.index]

    def _needed(self, target: Stage) -> list[Stage]:
        """The target and the stages it uses (as a base or through ``COPY --from``)."""
        needed: set[int] = set()

        def visit(stage: Stage) -> None:
            if stage.index in needed:
                return
            needed.add(stage.index)
            refs = [expand_from(stage, self.args, self.df.escape)[0]]
            refs += [str(i.flags["from"]) for i in stage.instructions if "from" in i.flags]
            refs += [ref for i in stage.instructions for ref in runmount.froms(i.flags.get("mount", []))]
            for ref in refs:
                # A ``--from=$VAR`` is only known when its step runs: every earlier stage may be it.
                deps = self.df.stages[:stage.index] if "$" in ref else [self.df.stage(ref)]
                for dep in deps:
                    if dep is not None and dep.index < stage.index:
                        visit(dep)
        visit(target)
        return [s for s in self.df.stages if s.index in needed]

    async def _header(self, text: str) -> None:
        self.step += 1
        await self.say(f"Step {self.step}/{self.total} : {text}\n")

    async def _stage(self, stage: Stage) -> None:
        base, platform = expand_from(stage, self.args, self.df.escape)
        await self._header(stage.original)
        self.current = await self._base_image(base, platform)
        await self.say(f" ---> {short_id(self.current)}\n")
        record = await self.b.images.get(self.current) if self.current else None
        self.state, triggers = config_ops.begin_stage(record.container_config if record else None)
        self.stage_args = self.args.for_stage()
        if triggers:
            await self.say(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
            for instr in config_ops.parse_triggers(triggers):
                await self._dispatch(instr)
        for instr in stage.instructions:
            await self._header(instr.original.strip())
            await self._dispatch(instr)
        self.stage_images[stage.index] = self.current

    async def _base_image(self, base: str, platform: str = "") -> str:
        named = self.opts.session.contexts.get(base)
        if named == "local":
            raise InvalidParameter(f"FROM {base}: a local directory build context cannot be a base image in wharf")
        if named is not None:
            return await self._image_id(named.removeprefix("docker-image://"), platform)
        if base.lower() == "scratch":
            return ""
        stage = self.df.stage(base)
        if stage is not None and stage.index in self.stage_images:
            return self.stage_images[stage.index]
        return await self._image_id(base, platform)

    async def _image_id(self, ref: str, platform: str = "") -> str:
        """An image by name, pulled first when it is not here (or is here for another platform
        than ``FROM --platform`` names), as the classic builder does."""
        wanted = parse_platform(platform)
        try:
            return (await (self.b.images.get_for_platform(ref, wanted) if wanted else self.b.images.get(ref))).id
        except NotFound:
            if self.opts.pull is None:
                raise
        await self.opts.pull(ref, platform, self._emit)
        return (await self.b.images.get(ref)).id

    # -- steps -----------------------------------------------------------
    async def _dispatch(self, raw: Instruction) -> None:
        env = step_env(self.state.config.get("Env") or [], self.stage_args)
        instr = expand(raw, env, self.df.escape)
        if instr.name == "arg":
            for key, default in instr.arg_definitions():
                self.stage_args.declare(key, default)
            await self._config_step(self.state, "ARG " + " ".join(instr.args))
        elif instr.name == "run":
            await self._run(instr)
        elif instr.name in ("copy", "add"):
            await self._copy(instr, env)
        elif instr.name == "workdir":
            new = config_ops.apply(self.state, instr)
            path = new.config["WorkingDir"]
            await self._layer_step(new, config_ops.comment(new, instr),
                                   lambda root: copier.make_dir(root, path))
        else:
            new = config_ops.apply(self.state, instr)
            await self._config_step(new, config_ops.comment(new, instr))

    async def _cached(self, run_config: dict[str, Any], extra: list[str] | None = None) -> tuple[str, bool]:
        """The step's cache key, and whether it was a hit (then the step is done)."""
        key = checksum.cache_key(self.current, run_config, extra)
        if self.opts.nocache:
            return key, False
        image_id = self.b.cache.get(key)
        if image_id is None:
            return key, False
        if not await asyncio.to_thread(self.b.images.store.exists, image_id):  # not its whole record: a stat
            self.b.cache.forget(key)
            return key, False
        if self.opts.cache_from and image_id not in await self._cache_source_ids():
            return key, False
        await self.say(" ---> Using cache\n")
        self.current = image_id
        await self.say(f" ---> {short_id(image_id)}\n")
        return key, True

    async def _cache_source_ids(self) -> set[str]:
        """The ``--cache-from`` images and their ancestors: Docker's classic builder, given
        sources, reuses a cached step only when its image is in one of their chains (an
        image named there that is not here is no source)."""
        if self._cache_sources is None:
            store, found = self.b.images.store, set()
            for ref in self.opts.cache_from:
                try:
                    image_id = (await self.b.images.get(ref)).id
                except NotFound:
                    continue
                while image_id and image_id not in found:
                    found.add(image_id)
                    image_id = store.parent(image_id)
            self._cache_sources = found
        return self._cache_sources

    async def _done(self, key: str, state: ImageState, image_id: str) -> None:
        self.b.cache.put(key, image_id)
        self.current, self.state = image_id, state
        await self.say(f" ---> {short_id(image_id)}\n")

    async def _config_step(self, new: ImageState, text: str) -> None:
        run_config = {**new.config, "Cmd": config_ops.nop_cmd(new.config, text)}
        key, hit = await self._cached(run_config)
        if hit:
            self.state = new
            return
        await self._done(key, new, await self.b.commit(self.current, new, run_config, None))

    async def _layer_hit(self, new: ImageState, text: str) -> tuple[str, dict[str, Any], bool]:
        run_config = {**new.config, "Cmd": config_ops.nop_cmd(new.config, text)}
        key, hit = await self._cached(run_config)
        if hit:
            self.state = new
        return key, run_config, hit

    async def _layer_step(self, new: ImageState, text: str, change: Callable[[str], None]) -> None:
        key, run_config, hit = await self._layer_hit(new, text)
        if hit:
            return
        async with self.b.rootfs(self.current) as (root, diff):
            await asyncio.to_thread(change, root)
            image_id = await self.b.commit(self.current, new, run_config, diff)
        await self._done(key, new, image_id)

    async def _copy(self, instr: Instruction, env: dict[str, str]) -> None:
        paths, docs, dest = instr.sources_and_dest()
        keyword, flags = instr.keyword, instr.flags
        checksum_flag = str(flags.get("checksum", ""))
        buildfetch.check_checksum(paths, checksum_flag)
        remote = [p for p in paths if buildfetch.is_http(p) or buildfetch.is_git(p)]
        if remote and instr.name == "copy":
            raise InvalidParameter(f"{keyword} failed: source can't be a URL for COPY")
        bodies = [(doc.name, expand_heredoc(doc, env).encode()) for doc in docs]
        shown = "--parents " if flags.get("parents") == "true" else ""
        shown += "".join(f"--{k}={flags[k]} " for k in ("chown", "chmod") if flags.get(k))
        shown += "".join(f"--exclude={e} " for e in flags.get("exclude", []))
        body_hashes = [checksum.content_hash(data) for _, data in bodies]
        # An image never changes: the checksums of its paths are remembered by image ID, so a
        # cached COPY --from is found without mounting the image.
        ref, parents = str(flags.get("from", "")), flags.get("parents") == "true"
        image = await self._image_behind(ref)
        memo = image and checksum.cache_key(image, {"sources": paths, "parents": flags.get("parents", "")})
        if memo and (known := self.b.cache.get("sources:" + memo)) is not None:
            text = f"{keyword} {shown}{checksum.combined(known.split(',') + body_hashes)} in {dest} "
            if (await self._layer_hit(self.state, text))[2]:
                return
        # The context's sources and checksums, taken once: a miss copies what was hashed.
        hashed: tuple[list[copier.Source], list[str]] | None = None
        if not ref and not remote:  # the context's checksums need none of its files on disk
            def context_hashes() -> tuple[list[copier.Source], list[str]]:
                found = [s for src in paths for s in self.ctx.resolve(src, keyword, parents)]
                return found, [self.ctx.source_hash(s.rel) for s in found]
            hashed = await asyncio.to_thread(context_hashes)
            text = f"{keyword} {shown}{checksum.combined(hashed[1] + body_hashes)} in {dest} "
            if (await self._layer_hit(self.state, text))[2]:
                return
        async with self._source_root(ref) as src_root, contextlib.AsyncExitStack() as stack:
            sources, hashes = hashed or await self._fetch_sources(paths, remote, src_root, stack, instr)
            if memo:
                self.b.cache.put("sources:" + memo, ",".join(hashes))
            text = f"{keyword} {shown}{checksum.combined(hashes + body_hashes)} in {dest} "
            workdir = self.state.config.get("WorkingDir") or "/"
            chmod = copier.chmod_bits(str(flags.get("chmod", "")))
            exclude = list(flags.get("exclude", []))

            def change(root: str) -> None:
                who = copier.owner(str(flags.get("chown", "")), root)
                op = copier.Copy(root, dest, workdir, len(sources) + len(bodies), keyword, who, chmod,
                                 extract=instr.name == "add" and flags.get("unpack") != "false", exclude=exclude)
                for source in sources:
                    op.add_source(source, unpack=source.root == src_root or flags.get("unpack") == "true")
                for name, data in bodies:
                    op.add_bytes(name, data)
            await self._layer_step(self.state, text, change)

    async def _fetch_sources(self, paths: list[str], remote: list[str], src_root: str,
                             stack: contextlib.AsyncExitStack, instr: Instruction
                             ) -> tuple[list[copier.Source], list[str]]:
        """COPY's sources under ``src_root`` (a stage, image or named context) or downloaded into
        scratch directories ``stack`` removes, and their checksums."""
        keyword, flags = instr.keyword, instr.flags
        parents, checksum_flag = flags.get("parents") == "true", str(flags.get("checksum", ""))
        sources: list[copier.Source] = []
        for src in paths:
            if src not in remote:
                sources += await asyncio.to_thread(
                    self.ctx.resolve if src_root == self.ctx.root else partial(copier.resolve, src_root),
                    src, keyword, parents)
                continue
            scratch = await stack.enter_async_context(self._scratch())
            got = await (buildfetch.clone(src, scratch, flags.get("keep-git-dir") == "true", checksum_flag)
                         if buildfetch.is_git(src) else buildfetch.download(src, scratch, checksum_flag))
            sources.append(copier.Source(got.root, got.rel))
        hashes = await asyncio.to_thread(lambda: [self.ctx.source_hash(s.rel) if s.root == self.ctx.root
                                                  else checksum.source_hash(s.root, s.rel) for s in sources])
        return sources, hashes

    @contextlib.asynccontextmanager
    async def _scratch(self) -> AsyncIterator[str]:
        path = await asyncio.to_thread(tempfile.mkdtemp, dir=self.b.tmp)
        try:
            yield path
        finally:
            await asyncio.to_thread(shutil.rmtree, path, True)

    @contextlib.asynccontextmanager
    async def _source_root(self, ref: str) -> AsyncIterator[str]:
        """Where COPY reads: the context, or (``--from``) a named build context, a stage or an image."""
        image_id = await self._image_behind(ref)
        if image_id is None:
            yield self._named_dir(ref) if ref else await asyncio.to_thread(self.ctx.files)
            return
        async with self.b.rootfs(image_id) as (root, _diff):
            yield root

    async def _image_behind(self, ref: str) -> str | None:
        """The image a ``--from`` names (a stage's, a named context's, or one by name);
        None for the context and for a named local directory."""
        named = self.opts.session.contexts.get(ref)
        if not ref or named == "local":
            return None
        if named is not None:
            return await self._image_id(named.removeprefix("docker-image://"))
        stage = self.df.stage(ref)
        if stage is None:
            return await self._image_id(ref)
        if stage.index not in self.stage_images:
            raise InvalidParameter(f"invalid from flag value {ref}: stage not built yet")
        return self.stage_images[stage.index]

    async def _run(self, instr: Instruction) -> None:
        config = self.state.config
        cmd = _run_command(instr, config)
        env = config.get("Env") or []
        run_config = {**config, "Cmd": run_history_cmd(cmd, self.stage_args, env)}
        mounts = check_run_flags(instr.flags)
        for flag, value, entitlement in (("security", "insecure", "security.insecure"), ("network", "host", "network.host")):
            if instr.flags.get(flag) == value and entitlement not in self.opts.session.allow:
                raise InvalidParameter(f"entitlement {entitlement} is not allowed")
        flags = [f"--{k}={v}" for k, v in sorted(instr.flags.items()) if k != "mount"]
        key, hit = await self._cached(run_config, flags + await self._mount_sums(instr, mounts))
        if hit:
            return
        if not self.current:
            raise InvalidParameter(f"The command '{' '.join(cmd)}' cannot run: the image has no filesystem (FROM scratch)")
        network = str(instr.flags.get("network", "default"))
        workdir = config.get("WorkingDir") or "/"
        async with buildmounts.mounted(mounts, workdir, self.b.tmp, self.b.caches, self.opts.session,
                                       self._source_root) as step:
            await self._run_in_container(cmd, run_config, key, network, step)

    def _named_dir(self, name: str) -> str:
        """Where ``--build-context name=DIR`` was moved aside at unpack."""
        return os.path.join(os.path.dirname(self.ctx.root), "contexts", name)

    async def _mount_sums(self, instr: Instruction, mounts: list[runmount.Mount]) -> list[str]:
        """What the mounts bring into the key: each as written, and what a bind or a cache's
        ``from`` shows by content: the context's or a named directory's checksum, or the
        image's ID (a stage's, or the one a name stands for now, pulled if not here)."""
        sums = list(instr.flags.get("mount", []))
        for m in mounts:
            if m.type not in ("bind", "cache") or (m.type == "cache" and not m.from_):
                continue
            source = m.source.strip("/") or "."
            if not m.from_:
                sums.append(await asyncio.to_thread(self.ctx.source_hash, source))
            elif (image_id := await self._image_behind(m.from_)) is not None:
                sums.append(image_id)
            else:
                sums.append(await asyncio.to_thread(checksum.source_hash, self._named_dir(m.from_), source))
        return sums

    async def _run_in_container(self, cmd: list[str], run_config: dict[str, Any], key: str, network: str,
                                step: buildmounts.StepMounts) -> None:
        config = self.state.config
        env = config.get("Env") or []
        extra = [f"{k}={v}" for k, v in self.stage_args.not_in(env).items()]
        mode = self.opts.network or "default" if network == "default" else network
        body = {"Image": self.current, "Cmd": cmd, "Entrypoint": [], "Env": env + extra + step.env,
                "WorkingDir": config.get("WorkingDir") or "", "User": config.get("User") or "",
                "AttachStdout": True, "AttachStderr": True, "Healthcheck": {"Test": ["NONE"]},
                # the step's output is read from its log, whatever the daemon's default driver
                "HostConfig": {"NetworkMode": mode, "Mounts": step.mounts, "ExtraHosts": self.opts.extra_hosts,
                               "LogConfig": {"Type": "json-file"}}}
        containers = self.b.containers
        cid = (await containers.create(body))["Id"]
        keep = not self.opts.rm and not self.opts.forcerm
        try:
            await self.say(f" ---> Running in {cid[:12]}\n")
            await containers.start(cid)
            c = containers.get(cid)
            async for entry in logreader.read(c.record, None, None, None, True,
                                              stopped=lambda: not c.state["Running"]):
                text = entry.data.decode("utf-8", "replace")
                # dockerd's stderr writer colours what the step wrote there red
                await self.say(f"\x1b[91m{text}\x1b[0m" if entry.stream == "stderr" else text)
            code = int((await containers.wait(cid))["StatusCode"])
            if code != 0:
                raise StepFailed(f"The command '{' '.join(cmd)}' returned a non-zero code: {code}", code)
            diff = self.b.images.store.snapshots.diff(cid)
            await asyncio.to_thread(buildmounts.remove_stubs, diff, step.targets)
            image_id = await self.b.commit(self.current, self.state, run_config, diff, cid)
        finally:
            if not keep:
                await self.say(f"Removing intermediate container {cid[:12]}\n")
                await containers.remove(cid, force=True)
        await self._done(key, self.state, image_id)


def _run_command(instr: Instruction, config: dict[str, Any]) -> list[str]:
    """RUN's argv; heredocs (``RUN <<EOF``) become the shell script they spell."""
    if instr.heredocs and not instr.json:
        shell = config_ops.shell_of(config)
        if len(instr.args) == 1 and parse_heredoc_word(instr.args[0]) and len(instr.heredocs) == 1:
            return shell + [instr.heredocs[0].body]
        script = " ".join(instr.args) + "\n" + "".join(d.content + d.name + "\n" for d in instr.heredocs)
        return shell + [script]
    return config_ops.command_of(instr, config) or []
