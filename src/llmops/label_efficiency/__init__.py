"""Label efficiency: what pre-training buys as labels get scarce (the learning_curve stage). The
cells (one fine-tune per init, label budget and seed), the nested subsets they train on, and the
figures over them. "Curve" elsewhere in the code means a per-step training curve."""
