"""The package version, kept apart so packaging can read it without importing anything."""

__version__ = "1.5.1"
