"""ImageService: the engine's view of the image store (stub: see docs/architecture.md)."""
