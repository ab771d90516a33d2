"""Robustness grids: which runs (:mod:`.grid`, :mod:`.presets`), running them (:mod:`.runner`)
and their results store (:mod:`.store`)."""
