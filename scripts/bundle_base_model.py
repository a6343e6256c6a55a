"""Copy a trained checkpoint into the package as the bundled base model (twitterbot/models/base/).

Keeps what generation, evaluation, export and fine-tuning need — config.json, vocab.json,
history.csv, loss.png and the best weights re-saved without optimizer slots and stored as
float16 (Keras casts them back to float32 on load; the test loss moves by < 1e-3) — and nothing
of the training state.

    python scripts/bundle_base_model.py CKPT_DIR
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twitterbot import fsutil  # noqa: E402
from twitterbot.checkpoint import BUNDLED, open_checkpoint  # noqa: E402

LIMIT_BYTES = 5 * 1024 * 1024


def _float16_copy(source: Path, target: Path) -> None:
    """The same HDF5 weights file with every float32 array stored as float16."""
    with h5py.File(source, "r") as old, h5py.File(target, "w") as new:
        new.attrs.update(old.attrs)

        def copy(name: str, item) -> None:
            if isinstance(item, h5py.Dataset):
                data = item[()]
                new.create_dataset(name, data=data.astype(np.float16) if data.dtype == np.float32 else data)
            else:
                new.require_group(name)
            new[name].attrs.update(item.attrs)

        old.visititems(copy)


def main() -> None:
    ckpt = open_checkpoint(Path(sys.argv[1]))
    with fsutil.staged_dir(BUNDLED) as staging:
        for piece in ("config.json", "vocab.json", "history.csv", "loss.png"):
            shutil.copyfile(ckpt.path / piece, staging / piece)
        ckpt.load_model(1, 1).save_weights(staging / "float32.weights.h5")  # no optimizer: not compiled
        _float16_copy(staging / "float32.weights.h5", staging / "model.weights.h5")
        (staging / "float32.weights.h5").unlink()
    size = sum(p.stat().st_size for p in BUNDLED.iterdir())
    print(f"bundled {ckpt.path} into {BUNDLED}: {size / 1e6:.2f} MB")
    if size > LIMIT_BYTES:
        raise SystemExit(f"the bundled model must stay under {LIMIT_BYTES / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
