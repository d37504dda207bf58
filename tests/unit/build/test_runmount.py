"""``RUN --mount`` values as BuildKit reads them: defaults, and its refusals word for word."""

from __future__ import annotations

import pytest

from wharf.build import runmount
from wharf.errors import InvalidParameter


def test_defaults_per_type():
    cache = runmount.parse("type=cache,target=/root/.cache")
    assert (cache.readonly, cache.cache_id(), cache.sharing) == (False, "/root/.cache", "")
    bind = runmount.parse("target=/src")
    assert (bind.type, bind.readonly) == ("bind", True)
    assert runmount.parse("type=bind,target=/src,rw").readonly is False
    secret = runmount.parse("type=secret,id=aws,required")
    assert (secret.secret_target(), secret.required, secret.readonly) == ("/run/secrets/aws", True, True)
    assert runmount.parse("type=secret,target=/etc/token").secret_id() == "token"
    assert runmount.parse("type=tmpfs,target=/t,size=64m").size == 64 << 20
    m = runmount.parse("type=cache,target=/c,id=x,sharing=locked,mode=0700,uid=1000,gid=1000,from=s,source=/p")
    assert (m.id, m.sharing, m.mode, m.uid, m.gid, m.from_, m.source) == ("x", "locked", 0o700, 1000, 1000, "s", "/p")


def test_relative_target_is_under_workdir():
    assert runmount.parse("target=cache").resolved_target("/app") == "/app/cache"
    with pytest.raises(InvalidParameter, match='invalid mount target "/"'):
        runmount.parse("target=.").resolved_target("/")


@pytest.mark.parametrize("value, message", [
    ("type=volume,target=/c", 'unsupported mount type "volume"'),
    ("type=cahce,target=/c", 'unsupported mount type "cahce" (did you mean cache?)'),
    ("type=cache,target=/c,sharing=lockd", 'unsupported sharing value "lockd" (did you mean locked?)'),
    ("type=cache,traget=/c", "unexpected key 'traget' in 'traget=/c' (did you mean target?)"),
    ("type=cache,target=/c,colour=red", "unexpected key 'colour' in 'colour=red'"),
    ("type=cache,target=/c,sharing=sometimes", 'unsupported sharing value "sometimes"'),
    ("type=bind,target=/c,mode=0700", 'mode not allowed for "bind" type mounts'),
    ("type=tmpfs,target=/c,uid=1", 'uid not allowed for "tmpfs" type mounts'),
    ("type=cache,target=/c,required", "unexpected key 'required' for mount type 'cache'"),
    ("type=cache,target=/c,size=1m", "unexpected key 'size' for mount type 'cache'"),
    ("type=cache,target=/c,mode=9", "invalid value 9 for mode"),
    ("type=cache,target=/c,ro=maybe", "invalid value for ro: maybe"),
    ("type=secret", "invalid secret mount. one of source, target required"),
    ("type=secret,id=a,source=b", "both source and id can't be set"),
    ("type=secret,id=a,from=x", "secret mount should not have a from"),
    ("type=bind,target=/c,sharing=shared", "invalid cache sharing set for bind mount"),
    ("type=cache,target=/c,junk", "invalid field 'junk' must be a key=value pair"),
    ("type=bind,target=/c,from=$STAGE", "'from' doesn't support variable expansion, define alias stage instead"),
])
def test_buildkit_refusals(value, message):
    with pytest.raises(InvalidParameter) as e:
        runmount.parse(value)
    assert e.value.message == message


def test_froms_for_the_stages_a_build_needs():
    assert runmount.froms(["type=bind,from=deps,target=/d", "type=cache,target=/c"]) == ["deps"]
