"""Persistence: the domain model (`storage.records`) and the database that holds it. Imports nothing of ours."""

from __future__ import annotations


class StorageError(Exception):
    """The database refused or failed; `str()` is one line naming the operation and the database."""


__all__ = ["StorageError"]
