"""Prompts: the text put before each input for models trained with one (e5's ``"query: "``, bge's instruction).

The export reads them from a sentence-transformers model's ``config_sentence_transformers.json`` (``prompts``,
``default_prompt_name``) or from ``--prompt NAME=TEXT``, and stores them in the manifest; ``encode(...,
prompt_name="query")`` and the server's ``prompt_name`` field pick one. Without a name the manifest's default
prompt applies (none unless the model names one), as in sentence-transformers.

Example:
    >>> from simcse_sdk.model.manifest import Manifest
    >>> m = Manifest("avg", True, 32, 8, {}, prompts={"query": "query: "}, default_prompt_name=None)
    >>> prompt_text(m, "query"), prompt_text(m, None), prompt_text(m, "")
    ('query: ', '', '')
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InputError, InvalidArgumentError

if TYPE_CHECKING:
    from .manifest import Manifest


def prompt_text(manifest: Manifest, prompt_name: object) -> str:
    """The text of prompt ``prompt_name``; None means the manifest's default prompt, if any, and ``""`` no prompt."""
    if prompt_name == "":
        return ""
    if prompt_name is None:
        name = manifest.default_prompt_name
        return manifest.prompts[name] if name is not None else ""
    if not isinstance(prompt_name, str):
        raise InputError(f"prompt_name must be a string or None, got {type(prompt_name).__name__} {prompt_name!r:.40}.")
    if prompt_name not in manifest.prompts:
        known = ", ".join(repr(k) for k in manifest.prompts) or "none (export with --prompt NAME=TEXT to add one)"
        raise InvalidArgumentError(f"prompt_name {prompt_name!r} is not one of this model's prompts: {known}.")
    return manifest.prompts[prompt_name]
