"""The web: `exportfolder` owns the export folder's contract (its files, the tfjs layers format, reading
a download with bounds; versioned), `export` writes it with the page in `page/` (which writes tweets and
fine-tunes in the browser), `importweb` turns a page's download back into a checkpoint, `serve` serves
an export to this machine's browser.

May import: `twitterbot.writing`, `twitterbot.training`, `twitterbot.corpus` and the shared modules.
"""
