"""Reading and preparing tweets: every input format (`sources`, `jsontweets`), cleaning (`clean`), the
character vocabulary (`vocab`), the words and the novelty index of a corpus (`words`, `novelty`), and
`bot prepare` (`prepare`), which writes a data folder; `datafolder` owns that folder's contract (every
file name, reading it back) and `batches` cuts its splits into stateful lanes.

May import: `twitterbot.config`, `errors`, `fsutil`. Nothing here knows of models, sampling or networks.
"""
