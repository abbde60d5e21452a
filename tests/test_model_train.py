"""Training: the optimizer and schedule, the default corpus, learning, and exact resumption."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from glamsim.config import ConfigError, load_model
from glamsim.model import checkpoint
from glamsim.model.data import eval_batches, load_corpus, split, stdlib_files, train_batch
from glamsim.model.train import TrainConfig, abstract_state, learning_rate, make_optimizer
from glamsim.trainer import train

TINY = load_model("glam-tiny")


@pytest.fixture(scope="module")
def corpus():
    return load_corpus()


def test_schedule_is_constant_then_inverse_sqrt():
    lr = learning_rate(0.01, 10_000)
    assert float(lr(jnp.int32(0))) == pytest.approx(0.01)
    assert float(lr(jnp.int32(9_999))) == pytest.approx(0.01)  # step 10K
    assert float(lr(jnp.int32(39_999))) == pytest.approx(0.005)  # step 40K: 0.01 * sqrt(1/4)


def test_non_finite_gradients_skip_the_update():
    tx = make_optimizer(TrainConfig())
    params = {"w": jnp.ones((4, 4))}
    state = tx.init(params)
    bad = {"w": jnp.full((4, 4), jnp.inf)}
    updates, state2 = tx.update(bad, state, params)
    np.testing.assert_array_equal(updates["w"], 0.0)
    assert int(state2.total_notfinite) == 1
    good, _ = tx.update({"w": jnp.full((4, 4), 0.5)}, state2, params)
    assert float(jnp.abs(good["w"]).max()) > 0


def test_default_corpus_is_the_stdlib_split_deterministically(corpus):
    files = stdlib_files()
    assert len(files) > 500 and all(f.suffix == ".py" for f in files)
    assert corpus.source == "python-stdlib"
    total = corpus.train.size + corpus.validation.size
    assert corpus.validation.size / total == pytest.approx(0.05, abs=0.002)
    small = split(np.arange(200, dtype=np.uint8) % 251)  # 10-byte blocks, every 20th to validation
    np.testing.assert_array_equal(small.validation, np.arange(190, 200))
    a, b = train_batch(corpus, 7, 4, 32, seed=3), train_batch(corpus, 7, 4, 32, seed=3)
    np.testing.assert_array_equal(a["inputs"], b["inputs"])
    np.testing.assert_array_equal(a["inputs"][:, 1:], a["targets"][:, :-1])
    assert not np.array_equal(a["inputs"], train_batch(corpus, 8, 4, 32, seed=3)["inputs"])
    assert len(eval_batches(corpus, 3, 4, 32)) == 3


def test_glam_tiny_lowers_validation_loss(corpus):
    s = train(
        TINY, TrainConfig(steps=40, batch_size=8, seq_len=64, eval_every=40, eval_batches=2), corpus, progress=False
    )
    assert s["val_bpb_start"] > 7.0  # about log2(256) = 8 bits per byte at initialisation
    assert s["val_bpb"] < 0.65 * s["val_bpb_start"]
    assert s["val_bpb"] == pytest.approx(s["val_loss"] / math.log(2))


def test_resume_continues_exactly(corpus, tmp_path):
    cfg = TrainConfig(steps=6, batch_size=4, seq_len=32, eval_every=3, eval_batches=1)
    straight, halves = tmp_path / "straight", tmp_path / "halves"
    train(TINY, cfg, corpus, checkpoint_dir=straight, log_path=straight / "log.jsonl", progress=False)
    train(
        TINY,
        cfg.model_copy(update={"steps": 3}),
        corpus,
        checkpoint_dir=halves,
        log_path=halves / "log.jsonl",
        progress=False,
    )
    with pytest.raises(ConfigError, match="already holds a run"):
        train(TINY, cfg, corpus, checkpoint_dir=halves, progress=False)
    with pytest.raises(ConfigError, match="batch_size=8: the checkpoint was trained with batch_size=4"):
        train(TINY, cfg.model_copy(update={"batch_size": 8}), corpus, checkpoint_dir=halves, resume=True)
    train(TINY, cfg, corpus, checkpoint_dir=halves, resume=True, log_path=halves / "log.jsonl", progress=False)

    target = abstract_state(TINY, cfg).arrays()
    a, b = checkpoint.restore(straight, target), checkpoint.restore(halves, target)
    assert int(a["step"]) == int(b["step"]) == 6
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(x, y)
    rows = [[json.loads(line) for line in (d / "log.jsonl").read_text().splitlines()] for d in (straight, halves)]
    drop_speed = lambda r: {k: v for k, v in r.items() if k != "tokens_per_s"}  # noqa: E731
    assert [drop_speed(r) for r in rows[0]] == [drop_speed(r) for r in rows[1]]
    assert [r["step"] for r in rows[1]] == [0, 1, 2, 3, 4, 5, 6]


def test_nan_loss_stops_training_at_that_step_keeping_log_and_checkpoints(corpus, tmp_path, monkeypatch):
    from glamsim import trainer

    real_step = trainer.train_step

    def poisoned(graphdef, state, batch):  # the loss turns NaN from the third step on
        new, metrics = real_step(graphdef, state, batch)
        return new, {**metrics, "loss": jnp.where(state.step >= 2, jnp.nan, metrics["loss"])}

    monkeypatch.setattr(trainer, "train_step", poisoned)
    cfg = TrainConfig(steps=6, batch_size=2, seq_len=32, eval_every=100, eval_batches=1, checkpoint_every=1)
    with pytest.raises(ConfigError, match=r"^training diverged at step 3: loss=nan \(lower --lr, now 0.01\)$"):
        train(TINY, cfg, corpus, checkpoint_dir=tmp_path / "ck", log_path=tmp_path / "log.jsonl", progress=False)
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2, 3] and math.isnan(rows[-1]["loss"])
    assert checkpoint.all_steps(tmp_path / "ck") == [2, 1]  # the diverged step is not checkpointed


def test_checkpoint_save_into_a_file_fails_in_one_line_without_hanging(tmp_path):
    (tmp_path / "F").write_text("x")
    with pytest.raises(ConfigError, match=r"^checkpoint-dir='.*F': cannot write step 1 \(NotADirectoryError"):
        checkpoint.save(tmp_path / "F", 1, {"w": np.zeros(2, np.float32)}, {"model": {}, "train": {}})


def test_checkpoint_manifest_holds_a_sha256_per_array(tmp_path):
    import hashlib

    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": {"c": np.int32(7)}}
    checkpoint.save(tmp_path, 5, arrays, {"model": {"name": "m"}, "train": {}})
    manifest = json.loads((tmp_path / "5" / "integrity" / "metadata").read_text())
    assert manifest["format"] == checkpoint.INTEGRITY_FORMAT
    assert manifest["arrays"]["a"] == {
        "sha256": hashlib.sha256(arrays["a"].tobytes()).hexdigest(),
        "shape": [2, 3],
        "dtype": "float32",
    }
    assert set(manifest["arrays"]) == {"a", "b.c"}
    got = checkpoint.restore(
        tmp_path, jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(np.shape(x), x.dtype), arrays)
    )
    np.testing.assert_array_equal(got["a"], arrays["a"])
    assert checkpoint.read_record(tmp_path) == {"model": {"name": "m"}, "train": {}}
