"""The `kefu` command: one package over the same services the web and the worker call."""

from web.cli.main import main

__all__ = ["main"]
