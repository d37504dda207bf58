"""-v / --mount / --tmpfs parsing into inspect's Mounts and OCI mounts."""

import pytest

from wharf.engine import mounts
from wharf.errors import InvalidParameter


def test_binds_and_tmpfs(tmp_path):
    src = str(tmp_path)
    parsed = mounts.parse({"Binds": [f"{src}:/data:ro"], "Tmpfs": {"/run": "size=1m"},
                           "Mounts": [{"Type": "bind", "Source": src, "Target": "/b"}]})
    assert parsed[0] == {"Type": "bind", "Source": src, "Destination": "/data", "Mode": "ro",
                         "RW": False, "Propagation": "rprivate"}
    assert [m["Destination"] for m in parsed] == ["/data", "/b", "/run"]
    oci = mounts.to_oci(parsed)
    assert oci[0] == {"destination": "/data", "type": "bind", "source": src,
                      "options": ["rbind", "rprivate", "ro"]}
    assert oci[2]["type"] == "tmpfs" and "size=1m" in oci[2]["options"]


@pytest.mark.parametrize("hc,message", [
    ({"Binds": ["vol:/data"]}, "named volumes are not supported"),
    ({"Binds": ["/x"]}, "invalid volume specification"),
    ({"Binds": ["/x:rel"]}, "mount path must be absolute"),
    ({"Binds": ["/x:/a:bogus"]}, "invalid mode"),
    ({"Mounts": [{"Type": "bind", "Source": "/no/such/dir", "Target": "/a"}]},
     "bind source path does not exist"),
    ({"Binds": ["/x:/a", "/y:/a"]}, "Duplicate mount point: /a"),
])
def test_refused(hc, message):
    with pytest.raises(InvalidParameter, match=message):
        mounts.parse(hc)
