"""The `pixflow` command line."""

from pixflow.cli.main import main

__all__ = ["main"]
