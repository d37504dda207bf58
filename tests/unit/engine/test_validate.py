"""Create bodies are refused with dockerd's words before anything is made."""

import pytest

from wharf.engine import names, validate
from wharf.errors import InvalidParameter


def _hc(**kw):
    return {"Image": "busybox", "HostConfig": kw}


@pytest.mark.parametrize("body,message", [
    (["a list"], "cannot unmarshal array"),
    ({"Image": 5}, "cannot unmarshal number into Go struct field Config.Image of type string"),
    ({"Image": "busybox", "HostConfig": "x"}, "Config.HostConfig of type map"),
    ({"Image": "busybox", "Tty": "yes"}, "Config.Tty of type bool"),
    ({}, "Image"),
    (_hc(Memory=1024), "Minimum memory limit allowed is 6MB"),
    (_hc(Memory=64 << 20, MemorySwap=32 << 20), "Minimum memoryswap limit should be larger"),
    (_hc(RestartPolicy={"Name": "sometimes"}), "invalid restart policy 'sometimes'"),
    (_hc(RestartPolicy={"Name": "always", "MaximumRetryCount": 3}),
     "maximum retry count cannot be used with restart policy 'always'"),
    (_hc(AutoRemove=True, RestartPolicy={"Name": "always"}), "--restart and --rm"),
    (_hc(NanoCpus=10**9, CpuPeriod=100000), "Conflicting options"),
    (_hc(NanoCpus=10**15), "Range of CPUs"),
])
def test_refused(body, message):
    with pytest.raises(InvalidParameter, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate.create_body(body)


def test_accepted_and_command_forms():
    config, hc = validate.create_body({"Image": "busybox", "Cmd": "true", "Entrypoint": None,
                                       "HostConfig": {"Memory": 16 << 20,
                                                      "RestartPolicy": {"Name": "on-failure",
                                                                        "MaximumRetryCount": 2}}})
    assert config["Cmd"] == ["true"] and config["Entrypoint"] is None
    assert validate.restart_policy(hc) == ("on-failure", 2)


def test_names():
    assert names.validate_name("/web.1") == "web.1"
    with pytest.raises(InvalidParameter, match=r"Invalid container name \(-x\)"):
        names.validate_name("-x")
    with pytest.raises(InvalidParameter):
        names.validate_name("a")  # Docker needs two characters at least
    cid = names.new_id()
    assert len(cid) == 64 and not cid[:12].isdigit()
    assert names.random_name(set()) .count("_") == 1
