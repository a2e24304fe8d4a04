"""SimCSE training stage: ``python -m trainer`` (see ``trainer/__main__.py`` and ``--help``).

Modules, one per noun: ``config`` (TrainConfig, PRESETS), ``data``, ``model``, ``pooling``,
``loss``, ``gradcache``, ``distributed``, ``checkpoint``, ``runlog``, ``evaluate``, ``train`` (the loop).
"""
