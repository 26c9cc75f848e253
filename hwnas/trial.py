"""``hwnas.trial``: the trial API of NNI's classic mode, for a user's own training script (two added lines)::

    import hwnas.trial

    arch = hwnas.trial.next_architecture(model, study="sqlite:///study.db", input_shape=(1, 1, 28, 28))
    ...  # train and test the model as before
    hwnas.trial.report(accuracy)

It lives in :mod:`hwnas.multitrial.trial`; this module is its public name.
"""

from .multitrial.trial import ModuleChoices, next_architecture, open_trial_study, pending_trial, report

__all__ = ["ModuleChoices", "next_architecture", "open_trial_study", "pending_trial", "report"]
