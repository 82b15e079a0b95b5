"""The editor console (`litwatch serve`): a face, like the CLI and the scheduler. `create_app` builds the Flask
application; `serve.serve` runs it under waitress."""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
