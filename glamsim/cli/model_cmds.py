"""`glamsim` model commands: `train` (the JAX GLaM on a byte-level corpus) and `generate`."""

from __future__ import annotations

from pathlib import Path

import typer

from glamsim.cli.typer_app import (
    COORDINATOR,
    MESH,
    NUM_PROCESSES,
    PROCESS_ID,
    check_dispatch,
    command,
    fmt,
    print_json,
    print_table,
)

MAX_SEED = 2**32 - 1  # = glamsim.model.train.MAX_SEED (not imported: it pulls in JAX)


def _dispatch(value: str | None, cfg) -> str:
    """The --dispatch given, or the model's natural one (dropless for dropless routing, else scatter)."""
    return check_dispatch(value) or ("dropless" if cfg.dropless else "scatter")


@command("train")
def train_cmd(
    model: str = typer.Option("glam-tiny", "--model", help="preset name or a ModelConfig YAML file"),
    steps: int = typer.Option(200, "--steps", min=1, help="total optimizer steps (a resumed run continues to it)"),
    batch: int = typer.Option(8, "--batch", min=1, help="sequences per batch"),
    seq_len: int = typer.Option(
        None, "--seq-len", min=1, help="tokens (bytes) per sequence; default: the model's context"
    ),
    corpus: list[Path] = typer.Option(
        None, "--corpus", help="text files or folders (repeatable); default: the Python stdlib's .py files"
    ),
    eval_every: int = typer.Option(100, "--eval-every", min=1, help="evaluate on validation every K steps"),
    eval_batches: int = typer.Option(4, "--eval-batches", min=1, help="validation batches per evaluation"),
    checkpoint_dir: Path = typer.Option(None, "--checkpoint-dir", help="orbax checkpoints go here"),
    checkpoint_every: int = typer.Option(
        0, "--checkpoint-every", min=0, help="checkpoint every K steps (always at the end)"
    ),
    resume: bool = typer.Option(
        False, "--resume", help="continue the run in --checkpoint-dir exactly where it stopped"
    ),
    log: str = typer.Option(None, "--log", help="metrics per step to a .csv or .jsonl file"),
    lr: float = typer.Option(0.01, "--lr", min=0.0, help="peak learning rate (GLaM: 0.01)"),
    warmup_steps: int = typer.Option(
        10_000, "--warmup-steps", min=1, help="constant-lr steps before inverse sqrt decay"
    ),
    dispatch: str = typer.Option(
        None,
        "--dispatch",
        help="MoE dispatch: scatter, einsum or dropless (default: "
        "dropless for a model with dropless routing, else scatter)",
    ),
    seed: int = typer.Option(0, "--seed", min=0, max=MAX_SEED, help="0 .. 2**32-1"),
    json_out: bool = typer.Option(False, "--json", help="machine-readable summary"),
    mesh: str = MESH,
    coordinator: str = COORDINATOR,
    num_processes: int = NUM_PROCESSES,
    process_id: int = PROCESS_ID,
) -> None:
    """Train a model on a byte-level corpus with a progress bar, validation and checkpoints."""
    from glamsim.parallel import check

    check(mesh, coordinator, num_processes, process_id)  # cluster flags refused before JAX loads

    from glamsim.config import load_model, validate_as
    from glamsim.model.data import load_corpus
    from glamsim.model.train import TrainConfig
    from glamsim.parallel import distributed, setup
    from glamsim.trainer import check_fits, check_outputs, train

    cfg = load_model(model)
    train_cfg = validate_as(
        TrainConfig,
        dict(
            steps=steps,
            batch_size=batch,
            seq_len=seq_len,
            learning_rate=lr,
            warmup_steps=warmup_steps,
            seed=seed,
            dispatch=_dispatch(dispatch, cfg),
            eval_every=eval_every,
            eval_batches=eval_batches,
            checkpoint_every=checkpoint_every,
        ),
        "train options",
    )
    train_cfg.context(cfg)
    check_fits(cfg, train_cfg)  # before JAX allocates: a run this machine cannot hold is refused now
    check_outputs(checkpoint_dir, log, resume)  # before any work: a run must be able to write its results
    device_mesh = setup(mesh, coordinator, num_processes, process_id)
    data = load_corpus(corpus)
    from glamsim.records import compile_note

    def announce() -> None:  # the first step waits for XLA: say so, with a time where known
        typer.echo(compile_note(cfg.name, batch, train_cfg.context(cfg), Path("runs"), cfg.n_layers), err=True)

    summary = train(
        cfg,
        train_cfg,
        data,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        log_path=log,
        progress=not json_out,
        mesh=device_mesh,
        announce=None if json_out else announce,
    )
    if not distributed.is_main():
        return  # the other processes of a multi-process run stay quiet
    if json_out:
        return print_json(summary)
    print_table(
        [{"quantity": k, "value": fmt(v) if isinstance(v, float) else v} for k, v in summary.items()],
        title=f"{cfg.name}: training summary (loss in nats per byte; bpb = bits per byte)",
    )


@command("generate")
def generate_cmd(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="a --checkpoint-dir written by `glamsim train`"),
    prompt: str = typer.Option(..., "--prompt", help="text to continue (UTF-8)"),
    max_new_tokens: int = typer.Option(200, "--max-new-tokens", min=1, help="bytes to generate"),
    temperature: float = typer.Option(0.8, "--temperature", min=0.0, help="0 = greedy"),
    top_k: int = typer.Option(None, "--top-k", min=1, help="sample among the K most likely bytes"),
    seed: int = typer.Option(0, "--seed", min=0, max=MAX_SEED, help="0 .. 2**32-1"),
    json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Continue a prompt with a trained checkpoint (KV-cached decoding)."""
    from glamsim.model.data import decode, encode

    tokens = encode(prompt)
    from glamsim.model.generate import check_request, generate, load, load_config

    step, cfg, _ = load_config(checkpoint)  # the verified record: check the request before reading arrays
    check_request(cfg, len(tokens), max_new_tokens, temperature=temperature, top_k=top_k, seed=seed)
    graphdef, params = load(checkpoint, step)
    out = generate(graphdef, params, tokens[None, :], max_new_tokens, temperature=temperature, top_k=top_k, seed=seed)
    completion = decode(out[0])
    if json_out:
        return print_json({"prompt": prompt, "completion": completion})
    typer.echo(prompt + completion)
