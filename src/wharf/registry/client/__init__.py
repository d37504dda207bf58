"""The distribution client: what wharfd uses to pull from and push to registries.

``endpoints`` maps a reference's domain to a registry host and decides
whether plain HTTP is allowed; ``hosts`` and ``certs`` read a registry's
``certs.d`` directory (containerd's hosts.toml, Docker's TLS files);
``auth`` holds credentials and the WWW-Authenticate challenge flow; ``session`` is one registry as one
operation sees it (retries, auth, errors); ``repository`` the distribution
API on one repository; ``pull`` and ``push`` move images between it and the
image store; ``progress`` words Docker's JSON progress messages.
"""
