"""Docker's cap-add/cap-drop arithmetic, limited to what the host can grant."""

from __future__ import annotations

import pytest

from wharf.errors import InvalidParameter
from wharf.runtime import caps

EVERYTHING = (1 << len(caps.NAMES)) - 1
NO_SYS_RESOURCE = EVERYTHING & ~(1 << caps.NUMBERS["CAP_SYS_RESOURCE"])


def test_default_is_dockers_fourteen() -> None:
    assert caps.effective_set(bounding=EVERYTHING) == list(caps.DEFAULT)
    assert len(caps.DEFAULT) == 14
    assert format(caps.mask(list(caps.DEFAULT)), "x") == "a80425fb"


def test_add_and_drop_accept_dockers_spellings() -> None:
    got = caps.effective_set(cap_add=["sys_admin", "CAP_NET_ADMIN"], cap_drop=["net_raw", "MKNOD"],
                             bounding=EVERYTHING)
    assert "CAP_SYS_ADMIN" in got and "CAP_NET_ADMIN" in got
    assert "CAP_NET_RAW" not in got and "CAP_MKNOD" not in got
    assert len(got) == 14


def test_all() -> None:
    assert caps.effective_set(cap_add=["ALL"], cap_drop=["NET_RAW"], bounding=EVERYTHING) == \
        [c for c in caps.NAMES if c != "CAP_NET_RAW"]
    assert caps.effective_set(cap_drop=["all"], cap_add=["chown"], bounding=EVERYTHING) == \
        ["CAP_CHOWN"]


def test_privileged_gets_only_what_the_host_has() -> None:
    got = caps.effective_set(privileged=True, bounding=NO_SYS_RESOURCE)
    assert "CAP_SYS_RESOURCE" not in got and len(got) == len(caps.NAMES) - 1
    assert "CAP_SYS_RESOURCE" not in caps.effective_set(cap_add=["SYS_RESOURCE"],
                                                        bounding=NO_SYS_RESOURCE)


def test_unknown_capability_is_rejected_like_docker() -> None:
    with pytest.raises(InvalidParameter, match='unknown capability: "CAP_FLY"'):
        caps.effective_set(cap_add=["fly"])


def test_host_bounding_mask_reads_status(tmp_path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tx\nCapBnd:\t00000000a80425fb\n")
    assert caps.all_capabilities(caps.host_bounding_mask(str(status))) == \
        sorted(caps.DEFAULT, key=caps.NUMBERS.get)
