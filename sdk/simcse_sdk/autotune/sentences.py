"""The fixed sentences ``variant="auto"`` embeds: the race's workload, and the accuracy check's.

Example:
    >>> len(WORKLOAD), len(CHECK) > len(WORKLOAD), CHECK[: len(WORKLOAD)] == WORKLOAD
    (12, True, True)
"""

# Real text of 6 to 22 tokens, as STS-B's: what is fastest depends on the lengths, and OpenVINO pays for each change
# of shape. The race's bulk call cycles through them; its single calls take SINGLES in turn.
WORKLOAD = [
    "A man is playing a guitar on the street.",
    "The stock market fell sharply on Tuesday after the central bank raised interest rates.",
    "Two dogs run through a field.",
    "Please restart the server before applying the update.",
    "A woman slices an onion in the kitchen.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "What time does the train leave?",
    "The committee postponed its decision until more evidence was available.",
    "A cat sleeps.",
    "Obama signs the bill into law at the White House ceremony on Friday.",
    "Children are playing soccer in the park near the river.",
    "Sales rose 4 percent in the third quarter.",
]
SINGLES = [8, 1, 3, 5]  # indices into WORKLOAD: 6 to 22 tokens

# The accuracy check (simcse_sdk.autotune.accuracy): the workload's sentences and real text up to ~190 tokens:
# dialogue, instructions, German, numbers, a list, long news and a long paragraph.
CHECK = WORKLOAD + [
    "Sales rose 4 percent in the third quarter, to $12.7 billion, beating analysts' forecasts of 3.1 percent.",
    "ok",
    "Der Hund schläft auf dem Sofa, während draußen der Regen fällt.",
    "Ingredients: 2 cups flour, 1 tsp salt, 3 eggs, 250 ml milk; whisk, rest 30 minutes, fry in butter.",
    "How do I reset my password if I no longer have access to the email address on my account?",
    "The defendant's lawyers argued that the evidence, obtained without a warrant, should not have been "
    "admitted, and the appeals court agreed, ordering a new trial in a unanimous ruling on Monday.",
    "In 1969 Apollo 11 landed on the Moon; Neil Armstrong and Buzz Aldrin spent about two and a quarter hours "
    "outside the lunar module, collecting 21.5 kilograms of material to bring back to Earth, while Michael "
    "Collins orbited above in the command module Columbia.",
    "Transformers compute attention between every pair of tokens in a sequence, so the cost of a layer grows "
    "with the square of the length; for short sentences, however, the dense projections dominate, and "
    "quantising their weights and activations to eight bits roughly halves the time on CPUs with fast integer "
    "dot products, while CPUs without them gain less. Calibrated activation scales keep each sentence's "
    "embedding independent of the batch it is computed in, which matters when a server mixes the inputs of "
    "many requests into one batch, and a check on the machine that serves catches kernels that differ by CPU.",
]
