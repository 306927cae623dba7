"""The package version, kept apart so packaging can read it without importing anything."""

__version__ = "1.5.1"


def server_version_header() -> str:
    """The value of x-ms-server-version: the reference's product name and our version."""
    return f"azmlinfsrv/{__version__}"
