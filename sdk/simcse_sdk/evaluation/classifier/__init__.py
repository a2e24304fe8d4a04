"""The transfer tasks' classifier: L2 logistic regression (numpy + scipy) and SentEval's model selection.

Imports nothing from the SDK.
"""
