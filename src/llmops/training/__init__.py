"""Trainer factory, data loading for training, optimisation and callbacks."""
