"""Stopping bad trials early: below the median of finished trials at an epoch (`MedianStop`), not
learning halfway through the first epoch (`NotLearning`); `EpochCost` records what an epoch costs, so
the report can say what pruning saved."""

from __future__ import annotations

import math
import statistics
import time

import keras
import optuna

LEARNING = 0.98  # a trial learns once its loss is below this share of the uniform guess's


class MedianStop(keras.callbacks.Callback):
    """Stop a trial whose validation loss after an epoch is worse than the median of the finished trials'
    at that epoch (optuna's pruners do not serve multi-objective studies; this rule serves both)."""

    def __init__(self, trial: optuna.Trial, epochs: int, warmup: int = 2):
        super().__init__()
        self.trial, self.epochs, self.warmup = trial, epochs, warmup

    def on_epoch_end(self, epoch, logs=None):
        loss = float((logs or {}).get("val_loss", math.nan))
        self.trial.set_user_attr(f"val_loss_{epoch}", loss)
        finished = self.trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        earlier = [t.user_attrs[f"val_loss_{epoch}"] for t in finished if f"val_loss_{epoch}" in t.user_attrs]
        if len(earlier) < self.warmup or epoch + 1 >= self.epochs:  # the last: stopping saves nothing
            return
        median = statistics.median(earlier)
        if not loss <= median:
            self.trial.set_user_attr("pruned_at_epoch", epoch)
            raise optuna.TrialPruned(f"val_loss {loss:.4f} after epoch {epoch + 1}, above the median {median:.4f}")


class EpochCost(keras.callbacks.Callback):
    """A trial's seconds per epoch with the machine to itself: its median batch time × the epoch's batches,
    plus its fastest validation. Wall time counted whatever else ran: a worker paused for 15 minutes, or
    a test suite sharing the cores, made a trial look several times slower than it is."""

    def __init__(self, steps: int):
        super().__init__()
        self.steps, self.batches, self.validations = steps, [], []
        self.in_epoch = 0  # batches of an epoch not finished (a trial stopped mid-epoch)

    def on_epoch_begin(self, epoch, logs=None):  # an epoch a killed run began: its batches are done already
        self.mark, self.in_epoch = time.perf_counter(), self.steps - self.params.get("steps", self.steps)

    def on_train_batch_end(self, batch, logs=None):  # after the progress bar read the loss: the step is done
        now = time.perf_counter()
        self.batches.append(now - self.mark)
        self.mark, self.in_epoch = now, self.in_epoch + 1

    def on_epoch_end(self, epoch, logs=None):
        self.in_epoch = 0

    def on_test_begin(self, logs=None):
        self.tested = time.perf_counter()

    def on_test_end(self, logs=None):
        self.validations.append(time.perf_counter() - self.tested)

    @property
    def seconds(self) -> float | None:
        if not self.batches:
            return None
        return statistics.median(self.batches) * self.steps + min(self.validations, default=0.0)


class NotLearning(keras.callbacks.Callback):
    """Stop a trial whose loss is still at the uniform guess (ln V nats/char) halfway through its first
    epoch: plain SGD at a small rate sat there for all 3 epochs, and a 2 × 905 draw took 36 minutes to
    show the median rule what half an epoch shows."""

    def __init__(self, trial: optuna.Trial, vocab_size: int):
        super().__init__()
        self.trial, self.guess = trial, math.log(vocab_size)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        # halfway through what this run trains of epoch 1: all of it, or the rest after a killed run
        if self.epoch == 0 and batch + 1 == max(self.params["steps"] // 2, 1):
            loss = float((logs or {}).get("loss", math.nan))
            if not loss < LEARNING * self.guess:
                self.trial.set_user_attr("pruned_at_epoch", 0)
                raise optuna.TrialPruned(
                    f"loss {loss:.4f} halfway through epoch 1: the uniform guess is {self.guess:.4f}"
                )
