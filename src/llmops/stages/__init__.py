"""DVC stage entry points: `python -m llmops.stages.<name>`. Thin: read params, call areas, write outs."""
