"""Training encoders: :mod:`~repspace.training.distillation` (``distill``: a static student of a
sentence-transformers teacher) and :mod:`~repspace.training.adaptation` (``adapt``: an encoder
fine-tuned on a domain corpus without labels)."""
