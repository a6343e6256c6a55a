"""The model, training and checkpoints: the Keras model whose LSTM state carries across batches
(`model`), its weights as plain NumPy and one NumPy step for sampling (`lstm`), `bot train` (`train`,
with `callbacks`), `bot finetune` and `bot evaluate`; `checkpoint` owns the checkpoint folder's contract
(every file name, writing and restoring it).

May import: `twitterbot.corpus` and the shared `config`, `errors`, `fsutil`, `backend`.
"""
