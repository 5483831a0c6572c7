"""keras-tuner search over task loss weights (`mtrec tune`).

    objective.py     the score of a trial: a weighted sum of validation task metrics
    search_space.py  the searched hyperparameters and how a trial's values change the config
    tuner.py         the keras-tuner `Tuner` subclass and `run_search` (single machine or
                     keras-tuner's chief and workers)
    results.py       the results table, the trade-off plot and the best configuration

This package imports nothing heavy: `mtrec_tf.config` validates objectives with it.
"""
