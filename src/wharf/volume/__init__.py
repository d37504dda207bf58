"""Volumes: the local driver (directories, or mounts described by options) and copy-up."""
