"""Which graph runs where: one module per backend behind one interface, and a variant's sessions.

Owns the backends (:mod:`.onnxruntime`, :mod:`.openvino`), the interface the Encoder sees and which
backend a variant needs (:mod:`.session`), the sessions of one variant and which batch runs on which
(:mod:`.variant_sessions`), and what the machine offers: CPU flags, cores, memory (:mod:`.machine`).
May import :mod:`simcse_sdk.errors`, :mod:`simcse_sdk.model` and :mod:`simcse_sdk.inputs`.
"""
