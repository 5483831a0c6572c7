"""Training speed of the BSARec reference code (PyTorch) on a public sequence set, on this CPU.

    python bench/reference_speed.py --reference-dir BSARec/src [--data-dir DIR]
        [--name Toys_and_Games] [--models BSARec,SASRec] [--steps 20] [--rounds 3] [--threads 2]

Needs PyTorch in the running interpreter and a clone of github.com/yehjin-shin/BSARec; neither
is a dependency of the package. The reference's own `parse_args`, `get_seq_dic`,
`get_dataloder`, `MODEL_DICT` and `Trainer` build the data, model and optimizer as its
`main.py` does, with its Toys settings (width 64, two blocks, 50 steps, dropout 0.5, batch 256,
lr 1e-3; BSARec with one head, alpha 0.7, c 3). Batches are drawn before timing; each timed
step is the body of `Trainer.iteration` in training (loss, backward, optimizer step), over
`--steps` batches in `--rounds` rounds. Prints the training examples per second (each prefix
of a history is one example, its last item the target: the median over rounds) and the seconds
an epoch of the training part takes at that rate. Compare with `bench/sequential_speed.py`,
run on the same machine just before or after.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

COMMON = ["--lr", "1e-3", "--batch_size", "256", "--max_seq_length", "50", "--hidden_size", "64",
          "--num_hidden_layers", "2", "--hidden_dropout_prob", "0.5", "--attention_probs_dropout_prob", "0.5",
          "--no_cuda", "--num_workers", "0"]
PER_MODEL = {"BSARec": ["--num_attention_heads", "1", "--alpha", "0.7", "--c", "3"], "SASRec": []}


def build_trainer(model_type: str, data_dir: Path, name: str) -> Any:
    """The reference's `Trainer` for `model_type`, built as its main.py builds it."""
    import torch
    from dataset import get_dataloder, get_seq_dic
    from model import MODEL_DICT
    from trainers import Trainer
    from utils import parse_args, set_seed

    sys.argv = ["main.py", "--data_dir", f"{data_dir}/", "--data_name", name, "--model_type", model_type,
                *COMMON, *PER_MODEL[model_type]]
    args = parse_args()
    set_seed(args.seed)
    args.cuda_condition = torch.cuda.is_available() and not args.no_cuda
    sequences, max_item, num_users = get_seq_dic(args)
    args.item_size = max_item + 1
    args.num_users = num_users + 1
    args.same_target_path = os.path.join(args.data_dir, args.data_name + "_same_target.npy")
    loaders = get_dataloder(args, sequences)
    model = MODEL_DICT[args.model_type.lower()](args=args)
    return Trainer(model, *loaders, args, logging.getLogger("reference_speed"))


def train_step(trainer: Any, batch: tuple) -> float:
    """One training step, as the body of the reference's `Trainer.iteration(train=True)`."""
    user_ids, input_ids, answers, negatives, same_target = (t.to(trainer.device) for t in batch)
    loss = trainer.model.calculate_loss(input_ids, answers, negatives, same_target, user_ids)
    trainer.optim.zero_grad()
    loss.backward()
    trainer.optim.step()
    return float(loss.item())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-dir", type=Path, required=True, help="the BSARec clone's src folder")
    parser.add_argument("--data-dir", type=Path, help="the folder of NAME.txt (default: $MTREC_DATA_DIR/"
                        "amazon_toys_s3rec, else ../shared/data/amazon_toys_s3rec)")
    parser.add_argument("--name", default="Toys_and_Games")
    parser.add_argument("--models", default="BSARec,SASRec")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    data_dir = args.data_dir or Path(os.environ.get("MTREC_DATA_DIR") or
                                     Path(__file__).resolve().parents[2] / "shared" / "data") / "amazon_toys_s3rec"
    sys.path.insert(0, str(args.reference_dir.resolve()))
    import torch

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, data {data_dir / args.name}.txt")
    rows = []
    for model_type in args.models.split(","):
        trainer = build_trainer(model_type, data_dir, args.name)
        needed = args.warmup + args.rounds * args.steps
        batches: list[tuple] = []
        while len(batches) < needed:
            batches += list(zip(range(needed - len(batches)), trainer.train_dataloader))
        batches = [batch for _, batch in batches]
        trainer.model.train()
        for batch in batches[:args.warmup]:
            train_step(trainer, batch)
        rates = []
        for round_ in range(args.rounds):
            chunk = batches[args.warmup + round_ * args.steps:args.warmup + (round_ + 1) * args.steps]
            start = time.perf_counter()
            for batch in chunk:
                loss = train_step(trainer, batch)
            rates.append(sum(len(batch[1]) for batch in chunk) / (time.perf_counter() - start))
            print(f"{model_type} round {round_ + 1}: {rates[-1]:.0f} examples/s (loss {loss:.3f})", flush=True)
        examples = len(trainer.train_dataloader.dataset)
        rows.append((model_type, statistics.median(rates), examples))
    print(f"\n{'model':12}{'examples/s':>14}{'examples/epoch':>18}{'s/epoch':>12}")
    for model_type, rate, examples in rows:
        print(f"{model_type:12}{rate:>14.0f}{examples:>18}{examples / rate:>12.1f}")


if __name__ == "__main__":
    main()
