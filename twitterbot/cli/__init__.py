"""The `bot` command line: one module per pipeline stage (`corpus`, `training`, `writing`, `web`,
`social`, `search`), each of whose functions parses one command's arguments and calls the stage that
does the work; `options` holds what several share, `app` registers them all and is the entry point.

May import every stage; nothing imports it.
"""
