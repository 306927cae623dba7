"""The stand-in's public API modules."""
