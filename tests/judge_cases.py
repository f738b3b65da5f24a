"""The short competition both real-model judge test modules (in-process vLLM and HTTP) judge.

Short on purpose: judge prompts of about 300 tokens keep each judge call on the CPU to seconds.
"""

QUESTION = "3 beehives make 12 candles. How many hives for 96 candles?"
FAST = {"rationale_max_chars": 60, "max_tokens": 200}  # short verdicts: the CPU generates ~60 tokens/s
SHORT = """<competition>
<pirate>
Arr, 96 candles / 12 = 8 batches, and 8 x 3 = 24 hives!
</pirate>
<knight>
Hark! One hive makes 4 candles, so 96 / 4 = 24 hives.
</knight>
<viking>
By Odin, 3 hives per 12 candles; 96 is 8 times 12, so 24 hives.
</viking>
<result>
All three say 24.
<winner>
pirate
</winner>
</result>
</competition>
The answer is 24 hives.
"""
