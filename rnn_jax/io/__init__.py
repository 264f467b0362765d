"""Storage: the run directory's format (:mod:`.rundir`, which owns every file name and array
key), checkpoints (:mod:`.checkpoint`, the only module that imports orbax), config
serialisation (:mod:`.configs`), the results reader (:mod:`.results`), the persistent
compile cache (:mod:`.compile_cache`) and the process's memory mappings that compiled
programs use up (:mod:`.memory_maps`)."""
