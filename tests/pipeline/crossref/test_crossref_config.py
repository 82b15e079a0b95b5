"""[crossref] in config.toml and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from litwatch.pipeline.config import load_settings
from litwatch.pipeline.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]


def test_defaults_and_env_override() -> None:
    s = load_settings(REPO / "config.toml", env={})
    assert (s.crossref.base_url, s.crossref.enabled) == ("https://api.crossref.org/", True)
    env = {"LITWATCH_CROSSREF__BASE_URL": "http://127.0.0.1:8080/crossref/", "LITWATCH_CROSSREF__ENABLED": "false"}
    s = load_settings(REPO / "config.toml", env=env)
    assert (s.crossref.base_url, s.crossref.enabled) == ("http://127.0.0.1:8080/crossref/", False)


def test_a_base_url_that_is_not_http_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"^LITWATCH_CROSSREF__BASE_URL: must be an http\(s\) URL"):
        load_settings(REPO / "config.toml", env={"LITWATCH_CROSSREF__BASE_URL": "api.crossref.org"})
