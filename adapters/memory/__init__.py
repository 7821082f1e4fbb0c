"""In-memory implementations of ports, for unit tests only."""
