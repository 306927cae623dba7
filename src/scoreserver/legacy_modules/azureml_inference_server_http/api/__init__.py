"""Compatibility: the public API modules score.py files import."""
