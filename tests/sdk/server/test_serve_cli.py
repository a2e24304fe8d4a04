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
