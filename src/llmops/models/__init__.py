"""HF model builders and LightningModules."""
