"""The Spark recipe: the public path of :mod:`simcse_sdk.embed.spark`.

Example:
    >>> from simcse_sdk.spark import embedding_udf    # doctest: +SKIP
"""

from .embed.spark import *  # noqa: F403
from .embed.spark import __all__  # noqa: F401
