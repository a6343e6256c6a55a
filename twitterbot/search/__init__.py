"""`bot search`: a hyperparameter search with optuna over `bot train` runs (`study`), from the space in
`space.toml` or the user's.

May import: `twitterbot.training`, `twitterbot.corpus` and the shared modules.
"""
