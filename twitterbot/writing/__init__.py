"""Writing tweets: the compiled sampler that draws many at once (`sample`) and the filters that decide
what is shown or posted (`filters`: whole, not a copy, no mention, within 280, real words, blocklist,
no loop).

May import: `twitterbot.training` (checkpoints, NumPy weights), `twitterbot.corpus` and the shared modules.
"""
