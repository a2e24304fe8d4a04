"""simcse-serve's command line is built from ServerConfig: every setting has a flag, its help is the field's comment."""

from __future__ import annotations

import dataclasses
import re

import pytest

pytest.importorskip("uvicorn", reason="the server needs the serve extra")

from simcse_sdk.server import ServerConfig  # noqa: E402
from simcse_sdk.server.__main__ import FLAGS, parser  # noqa: E402


def test_every_setting_has_a_flag_whose_help_is_its_comment():
    helps = ServerConfig.field_help()
    fields = {f.name for f in dataclasses.fields(ServerConfig)}
    assert set(helps) == fields  # every field carries a comment
    assert {name for _, name, _ in FLAGS} == fields - {"model_dir"}
    text = " ".join(parser().format_help().split())
    for name, comment in helps.items():
        assert " ".join(comment.split()) in text, name
    assert "ov-bf16" in helps["variant"] and "o200k_base" in helps["openai_encoding"]


def test_help_never_cuts_a_path_or_value_at_its_hyphen():
    """argparse wraps at hyphens too: --workers' help read "(docs/serving-" and "performance.md)" on two lines."""
    lines = parser().format_help().splitlines()
    assert not [line for line in lines if re.search(r"\w-$", line)]
    assert any("docs/serving-performance.md" in line for line in lines)


def test_flags_set_the_config_and_defaults_are_the_configs():
    args = vars(parser().parse_args(["m", "--port", "0", "--no-truncate", "--cors-origin", "a", "--cors-origin", "b",
                                     "--token-ids", "openai"]))
    args.pop("log_level")
    cfg = ServerConfig(**args)
    assert (cfg.port, cfg.truncate, cfg.cors_origins, cfg.token_ids) == (0, False, ["a", "b"], "openai")
    defaults = vars(parser().parse_args(["m"]))
    defaults.pop("log_level")
    assert ServerConfig(**defaults) == ServerConfig(model_dir="m")


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_a_port_out_of_range_is_refused_before_anything_loads(port, capsys):
    from simcse_sdk.server.__main__ import main

    assert main(["no-such-model", "--port", port]) == 2
    assert f"port must be 0-65535 (0: a free one, logged), got {port}" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["nan", "-1", "inf"])
def test_a_drain_timeout_that_is_no_wait_is_refused_before_anything_loads(value, capsys):
    """nan was taken: SIGTERM then failed inside uvicorn's shutdown and the process never exited; -1 answered every
    request in flight 503 at once."""
    from simcse_sdk.server.__main__ import main

    assert main(["no-such-model", "--drain-timeout", value]) == 2
    assert f"drain_timeout must be a number of seconds >= 0, got {float(value)!r}" in capsys.readouterr().err


def test_a_port_in_use_is_named_before_the_model_loads(tiny_model_dir, caplog, monkeypatch):
    import socket

    from simcse_sdk.server import state
    from simcse_sdk.server.__main__ import main

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before the port was bound")

    monkeypatch.setattr(state.ServerState, "__init__", never)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main([str(tiny_model_dir), "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port} (Address already in use): pick another --port" in caplog.text


def test_an_empty_api_key_is_refused(capsys):
    # it required 'Bearer ' with nothing after it, while an empty SIMCSE_API_KEY meant no key at all
    from simcse_sdk.server.__main__ import main

    assert main(["some-model", "--api-key", " "]) == 2
    assert "api_key is empty: pass a key (--api-key KEY or SIMCSE_API_KEY), or leave it out" in capsys.readouterr().err



@pytest.mark.parametrize("value", ["", "   ", "\n"])
def test_an_empty_api_key_variable_is_refused_like_the_flag(value, capsys, monkeypatch):
    # "" meant no key at all, and "   " a key nobody could send: both silently
    from simcse_sdk.server.__main__ import main

    monkeypatch.setenv("SIMCSE_API_KEY", value)
    assert "--api-key" in parser().format_help()  # --help still answers
    assert main(["some-model"]) == 2
    assert "SIMCSE_API_KEY is set but empty: set it to a key, or unset it ('unset SIMCSE_API_KEY') to serve without " \
           "a key" in capsys.readouterr().err


@pytest.mark.parametrize("source", ["--api-key", "SIMCSE_API_KEY"])
@pytest.mark.parametrize("key, what", [("clé-secrète", "a non-ASCII character at position 3"),
                                       ("my key", "a space at position 3"), ("tab\tkey", "a control character")])
def test_a_key_clients_cannot_send_is_refused_at_start(source, key, what, capsys, monkeypatch):
    # a non-ASCII key matched only clients that sent it as latin-1 bytes; HTTP header values are ASCII in practice
    from simcse_sdk.server.__main__ import main

    if source == "--api-key":
        argv = ["some-model", "--api-key", key]
    else:
        monkeypatch.setenv("SIMCSE_API_KEY", key)
        argv = ["some-model"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"the API key ({source}) holds {what}" in err and "visible ASCII characters only (0x21-0x7e" in err
    assert key not in err  # a secret is not printed


def test_the_key_is_stripped_and_the_flag_wins_over_the_variable(monkeypatch):
    monkeypatch.setenv("SIMCSE_API_KEY", "from-env\n")
    assert ServerConfig(model_dir="m").api_key == "from-env"
    assert ServerConfig(model_dir="m", api_key="\tfrom-flag ").api_key == "from-flag"


def test_a_no_flag_says_first_that_it_turns_something_off():
    """--no-truncate's help opened with "cut texts longer than...", which read as what the flag does."""
    text = " ".join(parser().format_help().split())
    for flag in ("--no-truncate", "--no-normalize"):
        assert f"{flag} turn off what is on by default: " in text
