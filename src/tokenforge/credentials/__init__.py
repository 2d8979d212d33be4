"""The token itself: formats, digests, classic scopes and fine-grained permissions.

Everything in this package is pure: no I/O, no clock, no database. It is the part of
Tokenforge that must never change by accident, so it is pinned by golden tests.
"""
