"""Serving the same score.py on other engines (imported only by the command that uses each)."""
