"""simcse-serve's command line is built from ServerConfig: every setting has a flag, its help is the field's comment."""

from __future__ import annotations

import dataclasses

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

