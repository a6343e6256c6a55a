"""Does a base model still fine-tune well? Each held-out account fine-tuned from each base, test loss before
and after, as a markdown table (the check of issue 26: every account's loss falls, and falls further than
from the old base).

Every (base, account) pair is `bot finetune BASE DATA --num-epochs 3` as a user runs it (the base's batch,
a tenth of its rate, float32 on this process's backend) into a temporary folder; "before" is the base on the
account's test split, "after" the fine-tuned model on it (`bot evaluate`). Accounts are data folders made
with `bot prepare FILE --vocab BASE`; every base must share that vocabulary.

    python bench/finetune_accounts.py --bases twitterbot/models/base CKPT --accounts data/ft-webjay data/ft-archive ...
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from twitterbot.training.finetune import finetune

EPOCHS = 3  # as docs/base-model.md's tables were made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bases", type=Path, nargs="+", required=True, help="checkpoint folders")
    parser.add_argument("--accounts", type=Path, nargs="+", required=True, help="data folders, one per account")
    parser.add_argument("--num-epochs", type=int, default=EPOCHS)
    args = parser.parse_args()

    rows = {account: [] for account in args.accounts}
    with tempfile.TemporaryDirectory(prefix="finetune-accounts-") as scratch:
        for base_index, base in enumerate(args.bases):
            for account in args.accounts:
                started = time.perf_counter()
                out = Path(scratch) / f"{base_index}-{account.name}"
                result = finetune(base, account, out, num_epochs=args.num_epochs)
                before, after = result.before.loss, result.after.loss
                rows[account].append((before, after))
                seconds = time.perf_counter() - started
                print(f"{base} on {account}: {before:.4f} -> {after:.4f} ({seconds:.0f} s)", flush=True)

    header = "| account | " + " | ".join(f"`{base}` | fine-tuned | change" for base in args.bases) + " |"
    print("\n" + header)
    print("|---" * (1 + 3 * len(args.bases)) + "|")
    for account, pairs in rows.items():
        cells = " | ".join(f"{before:.4f} | **{after:.4f}** | {after - before:+.4f}" for before, after in pairs)
        print(f"| `{account}` | {cells} |")


if __name__ == "__main__":
    main()
