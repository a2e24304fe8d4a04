"""Where the bulk job runs: this process (:mod:`.local`) or Ray Data (:mod:`.ray`), both running the same
unit of work (:mod:`.worker`). May import the Encoder, :mod:`simcse_sdk.embed.ray_data` and the job's modules.
"""
