"""Kairos's pure model: entities, value objects, rules, events, errors and ports.

Nothing here performs I/O, runs an event loop or reads the wall clock; "now" is always
an argument.
"""
