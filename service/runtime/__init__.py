"""The composition root: the processes Kairos runs (serve, worker, dev) built from their
adapters and settings."""
