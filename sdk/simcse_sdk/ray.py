"""Ray Data building blocks (the ``ray`` extra): the public path of :mod:`simcse_sdk.embed.ray_data`.

Example:
    >>> from simcse_sdk.ray import embed_dataset    # doctest: +SKIP
"""

from .embed.ray_data import *  # noqa: F403
from .embed.ray_data import __all__  # noqa: F401
