"""``--mount`` CSV syntax and the run flags that make mounts, as docker's CLI sends them."""

import pytest

from wharf.cli import containerspec
from wharf.cli.commands import run as run_cmd
from wharf.cli.flags import FlagSet, UsageError
from wharf.cli.mountspec import mount_spec


def test_mount_spec_fields():
    assert mount_spec("type=bind,src=/h,dst=/c,readonly,bind-propagation=rshared") == {
        "Type": "bind", "Source": "/h", "Target": "/c", "ReadOnly": True,
        "BindOptions": {"Propagation": "rshared"}}
    assert mount_spec("source=v,target=/d,volume-nocopy,volume-label=a=b,volume-opt=o=size=1m") == {
        "Type": "volume", "Source": "v", "Target": "/d",
        "VolumeOptions": {"NoCopy": True, "Labels": {"a": "b"},
                          "DriverConfig": {"Options": {"o": "size=1m"}}}}
    assert mount_spec("type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1770,ro=false") == {
        "Type": "tmpfs", "Target": "/t", "ReadOnly": False,
        "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1770}}


@pytest.mark.parametrize("spec,why", [
    ("type=bind,source=/x", "target is required"),
    ("type=bind,target=/x,bogus=1", "unexpected key 'bogus' in 'bogus=1'"),
    ("type=bind,target=/x,justaword", "invalid field 'justaword' must be a key=value pair"),
    ("type=bind,target=/x,volume-nocopy", "cannot mix 'volume-*' options with mount type 'bind'"),
    ("type=tmpfs,target=/x,tmpfs-size=lots", "invalid size: 'lots'"),
])
def test_bad_mount_specs(spec, why):
    with pytest.raises(ValueError, match=why.replace("*", r"\*")):
        mount_spec(spec)


def _body(*argv):
    parser = FlagSet("wharf run", interspersed=False)
    run_cmd.add_arguments(parser)
    return containerspec.build(parser.parse_args(list(argv)))


def test_run_flags_make_dockers_body(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    body = _body("-v", "./here:/h:ro", "-v", "named:/n", "-v", "/anon",
                 "--mount", "type=tmpfs,target=/t", "--tmpfs", "/run:size=1m",
                 "--volumes-from", "other:ro", "--read-only", "busybox")
    hc = body["HostConfig"]
    assert hc["Binds"] == [f"{tmp_path}/here:/h:ro", "named:/n"]
    assert body["Volumes"] == {"/anon": {}}
    assert hc["Mounts"] == [{"Type": "tmpfs", "Target": "/t"}]
    assert (hc["Tmpfs"], hc["VolumesFrom"], hc["ReadonlyRootfs"]) == (
        {"/run": "size=1m"}, ["other:ro"], True)


def test_bad_mount_flag_is_a_usage_error():
    with pytest.raises(UsageError, match='invalid argument "type=bind" for "--mount" flag: '
                                         "target is required"):
        _body("--mount", "type=bind", "busybox")
