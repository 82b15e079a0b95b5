"""The pipeline's errors. `str(error)` is one line saying what failed and where; only `pipeline.cli` prints it."""

from __future__ import annotations


class LitwatchError(Exception):
    """Base of every error the pipeline raises on purpose."""


class ConfigError(LitwatchError):
    """config.toml or an environment override is wrong: names the file/variable and the key."""

    def __init__(self, where: str, key: str | None, problem: str) -> None:
        self.where = where
        self.key = key
        self.problem = problem
        location = f"{where}: {key}" if key else where
        super().__init__(f"{location}: {problem}")


class QueryError(LitwatchError):
    """A saved search (queries/…) is unreadable, invalid, or PubMed says the term is not what the user thinks."""


class EutilsError(LitwatchError):
    """Talking to NCBI E-utilities failed."""


class EutilsTransientError(EutilsError):
    """Worth retrying: 429, 5xx, connection errors, timeouts, HTTP-200 error bodies, empty/truncated XML."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EutilsRequestError(EutilsError):
    """Not worth retrying: other 4xx, a request NCBI rejects as such."""


class EutilsUnreachable(EutilsError):
    """NCBI was never reached: the connection was refused or the host name does not resolve, before any answer.
    A wrong base_url or no network; retrying for minutes would only hide it, so the run fails at once."""


class EutilsInterrupted(EutilsError):
    """The process is being interrupted (Ctrl-C): the client makes no more attempts."""


class ParseError(LitwatchError):
    """An efetch body could not be turned into records (malformed XML, unavailable DTD, XML bomb...)."""


class UsageError(LitwatchError):
    """The command line asks for something impossible (dates reversed or in the future, --out disagreeing with
    --format): found before anything runs or is recorded; exit 2."""


class RunLockedError(LitwatchError):
    """Another run holds the lock."""


class RunStepError(LitwatchError):
    """A run failed at one step; says which step, why, and what a re-run will do."""

    def __init__(self, step: str, cause: BaseException, resume: str) -> None:
        self.step = step
        self.cause = cause
        self.resume = resume
        super().__init__(f"{step} failed: {cause}; {resume}")


# ---- wording shared by every error message -----------------------------------------------------------------

def short(text: str, limit: int = 100) -> str:
    """One line, at most `limit` characters: what an error message quotes of a term, a body or a URL."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def request_failure(exc: BaseException) -> str:
    """A transport failure of `requests` in a user's words (the exception text follows it where useful)."""
    import requests  # here, not at the top: most importers of the error classes never make a request

    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "read timeout"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection broken mid-body"
    return "connection error"
