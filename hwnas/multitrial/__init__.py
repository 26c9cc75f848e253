"""Multi-trial search on Optuna: each sampled network is trained on its own (the retrain path, a short budget),
accuracy and latency are optimised together, and any number of workers share one study through Optuna's storage.

- :mod:`.study`: storages (SQLite / any SQLAlchemy URL with a heartbeat, ``journal:PATH``, ``grpc://``) and studies
  that record what they were made for;
- :mod:`.samplers`, :mod:`.evolution`: NSGA-II, TPE, random, grid, regularized evolution; the latency constraint;
- :mod:`.pruning`: median / successive halving on the epochs of a multi-objective study, and what it saved;
- :mod:`.objective`, :mod:`.runner`: one trial, and the study run by ``hwnas multitrial``;
- :mod:`.trial`: the trial API of NNI's classic mode (``hwnas.trial.next_architecture`` / ``report``).

Optuna is imported only inside the functions that use it: ``import hwnas.multitrial`` works without it.
"""

from .runner import MultitrialConfig, StudyResult, read_study, run_study

__all__ = ["MultitrialConfig", "StudyResult", "read_study", "run_study"]
