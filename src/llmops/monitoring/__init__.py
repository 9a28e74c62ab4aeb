"""Drift: is new data still the data the model was made for (llmops drift)."""
