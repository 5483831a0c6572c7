"""`mtrec pretrain` and `mtrec pretrain neighbours` end to end on the tiny preset."""

from __future__ import annotations

import json

import numpy as np

from trainer.cli import main


def test_pretrain_writes_vectors_aligned_with_the_model_and_finds_neighbours(tmp_path, tiny_prepared, capsys):
    out = tmp_path / "words"
    code = main(["pretrain", "--kind", "words", "--preset", "tiny", "--set", "data.sample_seed=7",
                 "--output-dir", str(out), "--epochs", "1"])
    assert code == 0, capsys.readouterr().err
    tokens = tiny_prepared.statistics.tokens
    assert (out / "vocab.txt").read_text(encoding="utf-8").splitlines() == list(tokens)
    vectors = np.load(out / "vectors.npy")
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    assert vectors.shape == (len(tokens) + 2, 8) and vectors.dtype == np.float32  # tiny: embedding_dim 8
    assert meta["kind"] == "words" and meta["pairs_per_second"] > 0
    for name in ("metadata.tsv", "tensors.tsv", "projector_config.pbtxt"):
        assert (out / "projector" / name).exists()
    capsys.readouterr()

    assert main(["pretrain", "neighbours", str(out), tokens[0], "--k", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all(line.split("\t")[1] in tokens for line in lines)
    assert main(["pretrain", "neighbours", str(out), "no-such-token-zzz"]) == 2
    assert main(["pretrain", "--preset", "tiny"]) == 2  # --kind and --output-dir are needed
