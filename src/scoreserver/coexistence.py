"""Telling the user which server is serving, and how scoreserver sits beside the reference."""

from __future__ import annotations

from scoreserver._version import __version__

__all__ = ["REFERENCE_DISTRIBUTION", "arrangement", "implementation", "installed_reference"]

REFERENCE_DISTRIBUTION = "azureml-inference-server-http"


def installed_reference() -> str | None:
    """The version of azureml-inference-server-http installed in this environment, if any."""
    from importlib import metadata  # only at start-up and for --version: it imports a lot

    try:
        return metadata.version(REFERENCE_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None


def implementation() -> str:
    """One line naming the implementation that is serving (the banner and --version show it)."""
    return f"Served by scoreserver {__version__}, not by {REFERENCE_DISTRIBUTION}"


def arrangement(reference_version: str | None) -> str:
    """One line saying which command runs which server and where score.py's legacy imports go."""
    if reference_version is None:
        return (
            f"{REFERENCE_DISTRIBUTION} is not installed here: start scoreserver with "
            "`scoreserver` (scoreserver installs no `azmlinfsrv` command), and score.py's "
            "azureml_inference_server_http imports are scoreserver's own."
        )
    return (
        f"{REFERENCE_DISTRIBUTION} {reference_version} is installed here too: `azmlinfsrv` runs "
        "it and `scoreserver` runs scoreserver; score.py's azureml_inference_server_http imports "
        "give its AMLResponse and rawhttp, which scoreserver serves as well."
    )
