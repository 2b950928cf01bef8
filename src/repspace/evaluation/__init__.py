"""Evaluation: tasks, their scoring, making tasks from a corpus, and the leaderboard.

:mod:`~repspace.evaluation.tasks` (``load_task``: the kind from the layout),
:mod:`~repspace.evaluation.retrieval` (BEIR tasks, nDCG/MRR/Recall/MAP as trec_eval),
:mod:`~repspace.evaluation.sts` (STS pairs, Spearman/Pearson of cosines),
:mod:`~repspace.evaluation.classification` (labelled texts, logistic-regression and kNN probes),
:mod:`~repspace.evaluation.generators` (``make-task``: pair generators and BEIR output),
:mod:`~repspace.evaluation.leaderboard` (``evaluate``: tasks × encoders/spaces).
"""
