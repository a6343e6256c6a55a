"""`bot search`: a hyperparameter search with optuna over short `bot train` runs. `study` drives it (the
study, its storage, trials run again after a kill), `space` reads the space (`space.toml` or the user's)
and draws a trial's settings, `pruning` stops bad trials early, `report` writes what a search leaves.

May import: `twitterbot.training`, `twitterbot.corpus` and the shared modules.
"""
