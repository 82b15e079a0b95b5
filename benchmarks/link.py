"""The replay server with ONE link: `bandwidth_bps` shared by every response being sent at once.

The replay server's own cap is per response, which is right for one request in flight but multiplies the
bandwidth when the client has several in flight (max_in_flight); the issue's floor counts bytes / bandwidth
for the whole run, so the benchmark must not hand each connection its own 5 MB/s. Here every chunk of every
response reserves its transmission time on one shared link (chunks of concurrent responses interleave).
Benchmark-only: it subclasses the replay server's private handler.
"""

from __future__ import annotations

import threading
import time

from litwatch.pipeline.replay import Corpus, ReplayServer
from litwatch.pipeline.replay.server import _Handler, _HTTPServer


class Link:
    """Transmission slots on one link of `bps` bytes/s, handed out in order across threads."""

    def __init__(self, bps: float) -> None:
        self.bps = bps
        self._lock = threading.Lock()
        self._free_at = 0.0

    def send(self, nbytes: int) -> None:
        """Block until `nbytes` have had their time on the link."""
        with self._lock:
            start = max(time.monotonic(), self._free_at)
            self._free_at = start + nbytes / self.bps
            done = self._free_at
        time.sleep(max(0.0, done - time.monotonic()))


class _SharedLinkHandler(_Handler):
    def _write(self, body: bytes, bandwidth_bps: float | None) -> None:
        link: Link | None = self.server.replay.link  # type: ignore[attr-defined]
        if link is None:
            self.wfile.write(body)
            return
        chunk = max(1024, int(link.bps / 20))  # ~20 writes a second, as the replay server's own cap
        for start in range(0, len(body), chunk):
            piece = body[start : start + chunk]
            link.send(len(piece))
            self.wfile.write(piece)


class SharedLinkServer(ReplayServer):
    """`ReplayServer` whose `bandwidth_bps` is one link for all connections (None: unlimited)."""

    def __init__(self, corpus: Corpus, *, bandwidth_bps: float | None = None, **kwargs: object) -> None:
        super().__init__(corpus, bandwidth_bps=None, **kwargs)  # type: ignore[arg-type]
        self.link = Link(bandwidth_bps) if bandwidth_bps else None

    def start(self) -> SharedLinkServer:
        if self._httpd is not None:
            return self
        httpd = _HTTPServer(("127.0.0.1", self.port), _SharedLinkHandler)
        httpd.replay = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self
