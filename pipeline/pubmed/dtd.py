"""PubMed DTDs, in one place: where Biopython finds them, what happens when one is missing, and the one download.

Biopython's validating parser needs the DTD named in the DOCTYPE. It bundles some (1.88: up to pubmed_250101.dtd)
and would otherwise download the file itself — offline that hangs or fails obscurely, and a DOCTYPE is input, not a
download instruction. So:
- `OfflineHandler` resolves DTDs by file name from the project cache and Biopython's bundled set, never a URL; a
  missing one is a one-line `DtdUnavailableError` naming the file and the cache directory;
- `DtdDownloads` lets one run fetch at most one DTD (NCBI moves to a new one every January), only over https from
  NCBI's DTD host, atomically into the cache, and then parse again; offline the original error stands.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import Bio
import requests
from Bio.Entrez.Parser import DataHandler

from ..errors import EutilsRequestError, ParseError, request_failure, short

log = logging.getLogger(__name__)

T = TypeVar("T")

DTD_HOST = "dtd.nlm.nih.gov"  # where NCBI publishes the PubMed DTDs (a new one every January)
DTD_MAX_BYTES = 2 * 1024 * 1024  # the PubMed DTD is ~50 KB; anything huge is not a DTD
_DTD_FILENAME = re.compile(r"[A-Za-z0-9_.-]+\.(?:dtd|mod|ent)")


# ---- the cache and the offline handler ----------------------------------------------------------------------

class DtdUnavailableError(ParseError):
    """The DOCTYPE names a DTD neither bundled with Biopython nor in the cache; nothing was downloaded."""

    def __init__(self, batch: str, filename: str, system_id: str | None) -> None:
        self.filename = filename
        self.system_id = system_id  # where NCBI publishes it: a caller may fetch it into the cache
        self.cache_dir = DataHandler.local_dtd_dir
        super().__init__(
            f"{batch}: DTD {filename} is not available offline "
            f"(not bundled with Biopython {Bio.__version__}, not in the cache {self.cache_dir})"
        )


def configure_dtd_cache(directory: Path) -> None:
    """Point Biopython's DTD/XSD cache at a project directory (DTDs live in `<directory>/Bio/Entrez/DTDs`)."""
    directory.mkdir(parents=True, exist_ok=True)
    DataHandler.directory = str(directory)  # the setter also sets and creates local_dtd_dir/local_xsd_dir


def dtd_available(filename: str) -> bool:
    """True if `filename` is in the project cache or bundled with Biopython."""
    dirs = [DataHandler.local_dtd_dir, DataHandler.global_dtd_dir]
    return any(d is not None and os.path.isfile(os.path.join(d, filename)) for d in dirs)


class MissingDtd(Exception):
    def __init__(self, filename: str, system_id: str) -> None:
        super().__init__(filename)
        self.filename = filename
        self.system_id = system_id


class SchemaRefused(Exception):
    """The body names an XML Schema (xsi:); Biopython would fetch it, and PubMed efetch XML never has one."""


class OfflineHandler(DataHandler):
    """Biopython's handler, except that DTDs are looked up by file name locally and never downloaded."""

    def schemaHandler(self, name: str, attrs: dict[str, str]) -> None:  # noqa: N802 - Biopython's name
        # Biopython would fetch the XSD named by xsi:noNamespaceSchemaLocation; PubMed XML never has one.
        raise SchemaRefused("refused an XML Schema reference (xsi:), which PubMed efetch XML never has")

    def externalEntityRefHandler(self, context: str, base: str | None, systemId: str,  # noqa: N803 - expat API
                                 publicId: str | None) -> int:
        filename = os.path.basename((systemId or "").rstrip("/").rsplit("/", 1)[-1])
        handle = self.open_dtd_file(filename) if filename else None
        if handle is None:
            raise MissingDtd(filename or "(none)", systemId)
        with handle:
            parser = self.parser.ExternalEntityParserCreate(context)
            parser.ElementDeclHandler = self.elementDecl
            parser.ParseFile(handle)
        self.parser.StartElementHandler = self.startElementHandler
        return 1


# ---- the one download ------------------------------------------------------------------------------------

def is_ncbi_dtd_url(url: str) -> bool:
    """Only https URLs on NCBI's DTD host are ever fetched: a DOCTYPE is input, not a download instruction."""
    parts = urlsplit(url)
    return parts.scheme == "https" and parts.hostname == DTD_HOST and not parts.username and not parts.password


def download_dtd(
    url: str,
    directory: Path | str,
    *,
    allowed: Callable[[str], bool] = is_ncbi_dtd_url,
    timeout: tuple[float, float] = (10.0, 30.0),
    session: requests.Session | None = None,
) -> Path:
    """Fetch one DTD into `directory` (atomically: a half-written DTD must never be found by name).

    Raises `EutilsRequestError` (one line) when the URL is not allowed, the download fails, or the answer
    does not look like a DTD.
    """
    filename = url.rstrip("/").rsplit("/", 1)[-1]
    if not allowed(url) or not _DTD_FILENAME.fullmatch(filename):
        raise EutilsRequestError(f"refused to download DTD from {url!r} (only https://{DTD_HOST}/…/*.dtd)")
    try:
        response = (session or requests).get(url, timeout=timeout, stream=True)
        if response.status_code != 200:
            raise EutilsRequestError(f"downloading DTD {url} failed: HTTP {response.status_code}")
        body = response.raw.read(DTD_MAX_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        reason = f"{request_failure(exc)} ({short(str(exc), 120)})"
        raise EutilsRequestError(f"downloading DTD {url} failed: {reason}") from None
    head = body[:512].lstrip().lower()
    if len(body) > DTD_MAX_BYTES or not head.startswith((b"<!--", b"<!element", b"<!entity", b"<?xml", b"<!attlist")):
        raise EutilsRequestError(f"downloading DTD {url} failed: the answer is not a DTD ({len(body)} bytes)")
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target, prefix=f".{filename}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
        os.replace(tmp, target / filename)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise EutilsRequestError(f"cannot write DTD {filename} into {target}: {exc.strerror}") from None
    log.warning("downloaded DTD %s into %s", url, target)
    return target / filename


class DtdDownloads:
    """At most one DTD download per run (`reset()` at the start of each), then the parse is tried once more.

    Offline, or for a DTD anywhere but NCBI's https host, the original `DtdUnavailableError` stands (the
    download's own failure is logged as a warning)."""

    def __init__(
        self,
        *,
        allowed: Callable[[str], bool] = is_ncbi_dtd_url,
        timeout: tuple[float, float] = (10.0, 30.0),
    ) -> None:
        self._allowed = allowed  # tests allow a local server; production: NCBI's https host only
        self._timeout = timeout
        self._tried = False

    def reset(self) -> None:
        self._tried = False

    def parse(self, parse: Callable[[], T]) -> T:
        try:
            return parse()
        except DtdUnavailableError as exc:
            if self._tried or not exc.system_id or exc.cache_dir is None:
                raise
            self._tried = True
            try:
                download_dtd(exc.system_id, exc.cache_dir, allowed=self._allowed, timeout=self._timeout)
            except EutilsRequestError as fetch_error:
                log.warning("%s", fetch_error)
                raise exc from None
            return parse()
