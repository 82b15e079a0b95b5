"""`litwatch serve`: the console under waitress, a production WSGI server in pure Python (threads, no fork; it
buffers slow clients itself). Bound to 127.0.0.1 unless told otherwise: other machines reach it through a TLS
reverse proxy (docs/console.md), which `[web] proxies` tells the app to trust for X-Forwarded-*."""

from __future__ import annotations

import logging

from litwatch.storage.engine import safe_url

from ..config import Settings
from .app import create_app

log = logging.getLogger(__name__)


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8080, threads: int = 8) -> None:
    from waitress import serve as waitress_serve

    app = create_app(settings)
    log.info("console on http://%s:%d/ (database %s)", host, port, safe_url(settings.database_url))
    try:
        waitress_serve(app, host=host, port=port, threads=threads, ident="litwatch",
                       clear_untrusted_proxy_headers=True)
    finally:
        app.extensions["litwatch"]["runs"].stop.set()  # a run in hand stops after its batch
