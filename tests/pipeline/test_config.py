"""config.toml + env → Settings: defaults, overrides, and one-line errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from litwatch.pipeline.config import NCBI_BASE_URL, load_settings
from litwatch.pipeline.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_is_valid_and_equals_the_defaults() -> None:
    s = load_settings(REPO / "config.toml", env={})
    assert s.ncbi.base_url == NCBI_BASE_URL
    assert s.ncbi.batch_size == 500 and s.ncbi.overlap_days == 14
    assert s.database_url == f"sqlite:///{REPO / 'data' / 'litwatch.sqlite'}"
    assert s.queries_dir == REPO / "queries"
    assert s.warnings == ()


def test_env_overrides_win_and_are_typed(tmp_path: Path) -> None:
    path = write(tmp_path, '[ncbi]\nemail = "a@b.org"\nbatch_size = 200\n')
    env = {
        "LITWATCH_NCBI__BATCH_SIZE": "300",
        "LITWATCH_MAIL__RECIPIENTS": "x@y.org, z@y.org",
        "LITWATCH_MAIL__ENABLED": "true",
        "NCBI_API_KEY": "k3y",
        "LITWATCH_STORAGE__URL": "postgresql+psycopg://u@h/db",
    }
    s = load_settings(path, env=env)
    assert s.ncbi.batch_size == 300
    assert s.mail.recipients == ("x@y.org", "z@y.org") and s.mail.enabled is True
    assert s.ncbi.api_key == "k3y"
    assert s.database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[ncbi]\nemial = 'x'\n", {}, r"config.toml: \[ncbi\] emial: unknown key"),
        ("[ncbii]\n", {}, r"config.toml: \[ncbii\]: unknown section"),
        ("[ncbi]\nbatch_size = 'big'\n", {}, r"config.toml: \[ncbi\] batch_size: must be an integer, got 'big'"),
        ("[ncbi]\nbatch_size = 0\n", {}, r"config.toml: \[ncbi\] batch_size: must be between 1 and 10000"),
        ("[ncbi]\nemail = ''\n", {}, r"config.toml: \[ncbi\] email: NCBI requires a contact e-mail"),
        ("[ncbi\n", {}, r"config.toml: invalid TOML"),
        ("[mail]\nsecurity = 'tls'\n", {}, r"config.toml: \[mail\] security: must be none, starttls or ssl"),
        ("[mail]\nenabled = true\n", {}, r"config.toml: \[mail\] recipients: mail is enabled but no recipients"),
        ("[ncbi]\nrequests_per_second = 5.0\n", {}, r"requests_per_second: NCBI allows at most 3 requests/s without"),
        ("[run]\nheartbeat_seconds = 60.0\nlock_stale_seconds = 30.0\n", {},
         r"\[run\] heartbeat_seconds: must be positive and shorter than lock_stale_seconds \(30\)"),
        ("[schedule]\ntimezone = 'Mars/Olympus'\n", {}, r"\[schedule\] timezone: unknown time zone 'Mars/Olympus'"),
        ("[ncbi]\nbase_url = 'http://127.0.0.1:9/'\nemail = ''\n", {}, r"\[ncbi\] email: NCBI requires"),
        ("[digest]\nformats = ['pdf']\n", {}, r"\[digest\] formats: unknown format"),
        ("", {"LITWATCH_NCBI__BATCH_SIZE": "lots"}, r"LITWATCH_NCBI__BATCH_SIZE: must be a value of type int"),
        ("", {"LITWATCH_NCBI__NOPE": "1"}, r"LITWATCH_NCBI__NOPE: unknown key 'nope' in \[ncbi\]"),
        ("[ncbi]\nmax_attempts = 0\n", {}, r"config.toml: \[ncbi\] max_attempts: must be at least 1, got 0"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path: Path, text: str, env: dict[str, str], message: str) -> None:
    if "email" not in message:
        env = {"LITWATCH_NCBI__EMAIL": "writer@example.org", **env}
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(write(tmp_path, text), env=env)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LITWATCH_MAIL__SECURITY": "tls"}, "LITWATCH_MAIL__SECURITY: must be none, starttls or ssl, got 'tls'"),
        ({"LITWATCH_NCBI__MAX_IN_FLIGHT": "50"}, "LITWATCH_NCBI__MAX_IN_FLIGHT: must be between 1 and 10, got 50"),
        ({"LITWATCH_NCBI__BASE_URL": "eutils.example.org"},
         "LITWATCH_NCBI__BASE_URL: must be an http(s) URL, got 'eutils.example.org'"),
        ({"LITWATCH_NCBI__EMAIL": "nobody"}, "LITWATCH_NCBI__EMAIL: NCBI requires a contact e-mail on every request; "
                                              "set it in the file or LITWATCH_NCBI__EMAIL"),
    ],
)
def test_an_invalid_env_override_is_named_by_its_variable_not_the_file(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    path = write(tmp_path, "[ncbi]\nemail = 'writer@example.org'\n[mail]\nsecurity = 'ssl'\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env=env)
    assert str(info.value) == message


@pytest.mark.parametrize("var", ["LITWATCH_REGSITRY__BASE_URL", "LITWATCH_NBCI__EMAIL"])
def test_an_override_for_a_section_that_does_not_exist_is_an_error_naming_the_variable(
    tmp_path: Path, var: str
) -> None:
    path = write(tmp_path, "[ncbi]\nemail = 'writer@example.org'\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={var: "x"})
    section = var.removeprefix("LITWATCH_").split("__")[0].lower()
    assert str(info.value).startswith(f"{var}: unknown section {section!r} (known: ncbi, storage, paths, ")
    # variables that are not `<SECTION>__<KEY>` overrides are left alone
    env = {"LITWATCH_CONFIG": str(path), "LITWATCH_LOGLEVEL": "debug", "LITWATCH_TEST_PG": "x"}
    assert load_settings(None, env=env).ncbi.email == "writer@example.org"


def test_without_a_config_file_the_error_says_so_and_how_to_point_at_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a folder with no config.toml, and no --config or LITWATCH_CONFIG
    with pytest.raises(ConfigError) as info:
        load_settings(None, env={})
    assert str(info.value) == (
        f"no config file (no config.toml in {tmp_path}; point at one with --config PATH or LITWATCH_CONFIG): "
        "[ncbi] email: NCBI requires a contact e-mail on every request; set it in the file or LITWATCH_NCBI__EMAIL"
    )


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope.toml: file not found"):
        load_settings(tmp_path / "nope.toml", env={})


def test_secret_in_file_is_used_but_warned_about(tmp_path: Path) -> None:
    text = "[ncbi]\nemail = 'a@b.org'\napi_key = 'inline'\n[mail]\npassword = 'pw'\n"
    s = load_settings(write(tmp_path, text), env={})
    assert s.ncbi.api_key == "inline"
    assert any("api_key is a secret" in w and "NCBI_API_KEY" in w for w in s.warnings)
    assert any("password is a secret" in w for w in s.warnings)


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[ncbi]\nmax_retries = 3\n", {}, r"^\S*config.toml: \[ncbi\] max_retries: was renamed to max_attempts$"),
        ("", {"LITWATCH_NCBI__MAX_RETRIES": "3"},
         r"^LITWATCH_NCBI__MAX_RETRIES: was renamed to LITWATCH_NCBI__MAX_ATTEMPTS$"),
    ],
)
def test_a_renamed_key_says_its_new_name(tmp_path: Path, text: str, env: dict[str, str], message: str) -> None:
    """`max_retries` always counted attempts (the first one included); the old name points to the new one."""
    env = {"LITWATCH_NCBI__EMAIL": "writer@example.org", **env}
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(write(tmp_path, text), env=env)
    assert "\n" not in str(info.value)


def test_max_attempts_is_read_from_file_and_env(tmp_path: Path) -> None:
    path = write(tmp_path, "[ncbi]\nemail = 'a@b.org'\nmax_attempts = 4\n")
    assert load_settings(path, env={}).ncbi.max_attempts == 4
    assert load_settings(path, env={"LITWATCH_NCBI__MAX_ATTEMPTS": "9"}).ncbi.max_attempts == 9
