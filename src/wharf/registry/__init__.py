"""Registries: the distribution client (pull, push, login) and wharf's own server (``server``)."""
