"""DVC stage entry points: `python -m llmops.stages.<name>`, one module per stage. Each `main()`
reads its declared params and inputs, calls the areas, and writes its outs atomically; each
module ends with `run_stage(main)` (`stages/runner.py`: the lock, errors, tracking preflight).
Importing a stage does nothing."""
