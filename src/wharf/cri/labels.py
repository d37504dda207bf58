"""CRI's fields kept in a container's Docker labels (the engine's record is the only state).

Each CRI object is a Docker container whose ``Config.Labels`` hold the CRI
labels as given plus wharf's keys below: which kind it is, its metadata, its
annotations and, for a pod's container, its sandbox and log path.
"""

from __future__ import annotations

import json
from typing import Any

PREFIX = "io.wharf.cri."
KIND = PREFIX + "kind"              # "sandbox" | "container"
METADATA = PREFIX + "metadata"      # JSON: the CRI metadata message's fields
ANNOTATIONS = PREFIX + "annotations"  # JSON object
SANDBOX = PREFIX + "sandbox"        # a container's pod sandbox ID
LOG_PATH = PREFIX + "log-path"      # where the container's CRI log goes ("" = none)
LOG_DIRECTORY = PREFIX + "log-directory"  # a sandbox's log directory
HOSTNAME = PREFIX + "hostname"      # a sandbox's hostname, given to its containers
SANDBOX_KIND, CONTAINER_KIND = "sandbox", "container"


def encode(kind: str, labels: dict[str, str], metadata: dict[str, Any],
           annotations: dict[str, str], **extra: str) -> dict[str, str]:
    """The Docker labels of a CRI object."""
    out = dict(labels)
    out.update({KIND: kind, METADATA: json.dumps(metadata), ANNOTATIONS: json.dumps(annotations)})
    out.update({PREFIX + key.replace("_", "-"): value for key, value in extra.items()})
    return out


def user_labels(docker_labels: dict[str, str]) -> dict[str, str]:
    """The CRI labels alone, as the kubelet set them."""
    return {k: v for k, v in docker_labels.items() if not k.startswith(PREFIX)}


def metadata(docker_labels: dict[str, str]) -> dict[str, Any]:
    return json.loads(docker_labels.get(METADATA) or "{}")


def annotations(docker_labels: dict[str, str]) -> dict[str, str]:
    return json.loads(docker_labels.get(ANNOTATIONS) or "{}")
