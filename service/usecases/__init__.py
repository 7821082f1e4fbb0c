"""Use cases: each opens a unit of work, loads, lets the domain decide, saves state and
events together."""
