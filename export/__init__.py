"""Export stage: checkpoint -> ONNX model directory (``python -m export --help``)."""
