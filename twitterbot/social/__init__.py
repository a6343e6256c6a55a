"""The social networks: `bot fetch` (an account's tweets through the X API), `bot post` (to X, Mastodon
or Bluesky, with its post log) and the API keys both read (`apikeys`).

May import: `twitterbot.writing`, `twitterbot.training` and the shared modules.
"""
