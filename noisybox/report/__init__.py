"""Robustness reports of a bench: the paper's tables (:mod:`.tables`) and figures
(:mod:`.plots`)."""
