"""Storage: the run directory's format (:mod:`.rundir`, which owns every file name and array
key), checkpoints (:mod:`.checkpoint`, the only module that imports orbax), config
serialisation (:mod:`.configs`) and the results reader (:mod:`.results`). The compile cache
and the process's memory mappings are :mod:`rnn_jax.runtime`'s."""
