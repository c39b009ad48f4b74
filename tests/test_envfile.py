"""servelab.envfile: the app's settings from a .env file, and errors that keep secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from servelab.envfile import read_env_file
from servelab.errors import ConfigError


def test_the_forms_people_write(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "# the course app's settings\n"
        "\n"
        "API_TOKEN=abc123\n"
        "export MODEL_PATH=models/model.joblib   # a comment after a bare value\n"
        'GREETING="hello # not a comment\\nsecond line"\n'
        "RAW='single $quoted \\n'  # kept as written\n"
        "EMPTY=\n"
        "  SPACED = padded  \n"
        "URL=http://x/?a=b#frag\n"
    )
    assert read_env_file(path) == {
        "API_TOKEN": "abc123",
        "MODEL_PATH": "models/model.joblib",
        "GREETING": "hello # not a comment\nsecond line",
        "RAW": "single $quoted \\n",
        "EMPTY": "",
        "SPACED": "padded",
        "URL": "http://x/?a=b#frag",
    }


@pytest.mark.parametrize(
    "line",
    ["JUST_A_WORD", "BAD KEY=1", 'TOKEN="s3cret-unclosed', "TOKEN='s3cret' trailing", "1X=2"],
)
def test_a_bad_line_is_named_by_number_never_quoted(tmp_path: Path, line: str) -> None:
    path = tmp_path / ".env"
    path.write_text(f"OK=1\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        read_env_file(path)
    message = str(caught.value)
    assert message == f"env file {path}, line 2: not KEY=VALUE (or a quote is not closed)"
    assert "s3cret" not in message


def test_an_unreadable_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^cannot read env file .*missing: No such file"):
        read_env_file(tmp_path / "missing")
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match=r"not UTF-8 text$"):
        read_env_file(binary)
