"""``variant="auto"``: the fastest variant that is as accurate here as its export gate asked, measured.

Owns the race (:mod:`.race`), what it works with (:mod:`.choice`, :mod:`.sentences`), the accuracy check on this machine
(:mod:`.accuracy`), the cache of choices and checks (:mod:`.cache`), and the choice of a variant, asked
for or measured (:mod:`.selection`). May import :mod:`simcse_sdk.errors`, :mod:`simcse_sdk.model`,
:mod:`simcse_sdk.inputs` and :mod:`simcse_sdk.runtimes`, never the Encoder (it hands in candidates).
"""

from .choice import Candidate, Choice, Measurement

__all__ = ["Candidate", "Choice", "Measurement"]
