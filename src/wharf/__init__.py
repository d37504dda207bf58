"""wharf: a container engine that does Docker's job and speaks Docker's language."""

__version__ = "0.1.0"
#: The Docker Engine API version wharfd serves (the one Docker 20.10 serves).
API_VERSION = "1.41"
#: The oldest API version clients may negotiate down to.
MIN_API_VERSION = "1.12"
