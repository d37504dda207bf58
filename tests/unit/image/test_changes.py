"""``--change`` lines edit the image's container config as Docker's import does."""

import pytest

from wharf.errors import InvalidParameter
from wharf.image.changes import apply, empty_config


def test_applies_each_instruction() -> None:
    config = apply(empty_config(), [
        'CMD ["sh"]', "ENTRYPOINT /bin/init --flag", "ENV PATH=/bin:/usr/bin A=1",
        "ENV LEGACY some value", 'LABEL a=b "c d"="e f"', "EXPOSE 80 53/udp",
        "WORKDIR /srv", "USER nobody", "STOPSIGNAL SIGINT", 'VOLUME ["/data"]',
    ])
    assert config["Cmd"] == ["sh"]
    assert config["Entrypoint"] == ["/bin/sh", "-c", "/bin/init --flag"]
    assert config["Env"] == ["PATH=/bin:/usr/bin", "A=1", "LEGACY=some value"]
    assert config["Labels"] == {"a": "b", "c d": "e f"}
    assert config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert (config["WorkingDir"], config["User"], config["StopSignal"]) == ("/srv", "nobody", "SIGINT")
    assert config["Volumes"] == {"/data": {}}


def test_env_overrides_earlier_value() -> None:
    assert apply(empty_config(), ["ENV A=1", "ENV A=2"])["Env"] == ["A=2"]


def test_rejects_unknown_instruction() -> None:
    with pytest.raises(InvalidParameter, match="RUN is not a valid change command"):
        apply(empty_config(), ["RUN echo hi"])
