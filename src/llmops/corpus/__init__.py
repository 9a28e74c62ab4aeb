"""Corpus preparation: the unlabeled pre-training text, from the user's shards to parquet, streamed
(no file is read whole, memory stays flat in corpus size). No torch here."""
