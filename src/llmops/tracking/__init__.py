"""MLflow runs, tags and lineage. Imported lazily: `import mlflow` costs seconds."""
