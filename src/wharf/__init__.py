"""wharf: a container engine that does Docker's job and speaks Docker's language."""

__version__ = "0.1.0"
#: The Docker Engine API version the wharf CLI speaks (wharfd serves up to wharf.api.versions.API_VERSION).
API_VERSION = "1.41"
#: The oldest API version clients may negotiate down to.
MIN_API_VERSION = "1.12"
