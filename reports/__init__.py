"""The weekly digest: view-model, rendering and delivery. Reads `storage.records`; never opens a session."""

from __future__ import annotations


class DeliveryError(Exception):
    """Writing a digest file or sending it by mail failed; one line naming the path or the SMTP server."""


__all__ = ["DeliveryError"]
