"""DVC stage entry points: `python -m llmops.stages.<name>`. Each reads its declared params and
inputs, calls the areas, and writes its outs atomically."""

from llmops.console import quiet_third_party

quiet_third_party()
