"""The process running compiled programs: what this package does about JAX's and XLA:CPU's
runtime, in one room.

* :mod:`.compiler`: each program's name and the XLA options of programs run once;
* :mod:`.compile_cache`: JAX's persistent compilation cache (a rerun compiles nothing);
* :mod:`.executables`: compiled programs kept on disk under a key built without tracing
  (a rerun traces none of the runner's programs);
* :mod:`.concurrency`: which programs must run one call at a time on XLA:CPU (batched LAPACK
  calls that deadlock its thread pool);
* :mod:`.memory_maps`: the process's memory mappings that compiled programs use up, and
  emptying JAX's caches before the kernel's cap;
* :mod:`.watchdog`: a call that stops making progress ends the run with one line.
"""
