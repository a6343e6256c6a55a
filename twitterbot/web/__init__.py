"""The web: `bot export` (a TF.js layers model and the page in `page/`, which writes tweets and fine-tunes
in the browser), `bot import-web` (a page's download back into a checkpoint) and `bot serve`.

May import: `twitterbot.writing`, `twitterbot.training`, `twitterbot.corpus` and the shared modules.
"""
