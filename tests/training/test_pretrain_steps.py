"""Pre-training steps follow the task's own text: max_steps for the tweets' 0.8 M tokens, more
for a large corpus, never past the cap."""

from types import SimpleNamespace

from llmops.training.pretrain import planned_steps

CFG = SimpleNamespace(max_steps=400, in_domain_epochs=2.0, max_auto_steps=1500)
CFG.get = lambda key, default=None: getattr(CFG, key, default)
PER_STEP = 32 * 128  # the default global batch x context


def test_the_tweets_keep_max_steps():
    assert planned_steps(CFG, inside=787_702, share=1.0, tokens_per_step=PER_STEP) == 400


def test_a_larger_corpus_is_read_in_domain_epochs_times_up_to_the_cap():
    assert planned_steps(CFG, inside=2_000_000, share=1.0, tokens_per_step=PER_STEP) == 977
    assert planned_steps(CFG, inside=2_000_000, share=0.5, tokens_per_step=PER_STEP) == 1500  # half the windows
    assert planned_steps(CFG, inside=15_100_000, share=1.0, tokens_per_step=PER_STEP) == 1500


def test_without_in_domain_text_or_the_rule_max_steps_holds():
    assert planned_steps(CFG, inside=0, share=0.0, tokens_per_step=PER_STEP) == 400
    off = SimpleNamespace(max_steps=30, in_domain_epochs=None, max_auto_steps=1500)
    off.get = lambda key, default=None: getattr(off, key, default)
    assert planned_steps(off, inside=15_100_000, share=1.0, tokens_per_step=PER_STEP) == 30
