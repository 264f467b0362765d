"""Analysis: the gradient and spectral diagnostics (:mod:`.diagnostics`) and the figures
(:mod:`.plots`, matplotlib, imported only here)."""
