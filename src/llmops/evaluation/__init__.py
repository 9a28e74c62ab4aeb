"""Metrics, baselines, plots and reports. No lightning."""
