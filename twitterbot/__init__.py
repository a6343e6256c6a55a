"""twitterbot: turn a pile of tweets into a character-level LSTM that writes like them."""

__version__ = "0.1.0"
