"""Application layer: use cases, loops, composition root, CLI."""
