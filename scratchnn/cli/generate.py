"""``scratchnn generate``: continue a prompt with a language model trained on a text file."""

from __future__ import annotations

import sys

from .. import language_model as lm
from . import options, text
from .errors import UserError, from_user

HELP = "continue a prompt with a language model trained on text"
DESCRIPTION = "Print PROMPT and the characters a language model (train --data FILE.txt) samples after it."
EPILOG = """\
The same --seed gives the same text. --temperature below 1 makes the model
surer of itself (1: its own probabilities); --top-k K samples only from the K
likeliest characters.

example:
  scratchnn train --data corpus.txt --layers gpt --iters 2000 --out runs/gpt
  scratchnn generate --model runs/gpt/model.npz --prompt "ROMEO:" --tokens 500 --seed 0
"""


def add_arguments(parser) -> None:
    parser.add_argument("--model", required=True, metavar="PATH", help="a model.npz trained on a .txt file")
    parser.add_argument("--prompt", default="\n", help="the text to continue (default: a newline)")
    parser.add_argument(
        "--tokens",
        type=options.positive_int,
        default=500,
        metavar="N",
        help=f"characters to generate, at most {lm.MAX_NEW_TOKENS} (default: %(default)s)",
    )
    parser.add_argument(
        "--temperature",
        type=options.positive_float,
        default=1.0,
        metavar="T",
        help="divides the scores before sampling: below 1 surer, above 1 wilder (default: %(default)s)",
    )
    parser.add_argument(
        "--top-k",
        type=options.positive_int,
        metavar="K",
        help="sample only from the K likeliest characters (default: all of them)",
    )
    parser.add_argument(
        "--seed",
        type=options.seed_int,
        default=0,
        help="seed of the sampling: the same seed, the same text (default: %(default)s)",
    )
    options.add_common(parser)


def run(args) -> int:
    model, _ = text.load(args.model)
    if args.tokens > lm.MAX_NEW_TOKENS:
        raise UserError(f"--tokens must be at most {lm.MAX_NEW_TOKENS}, got {args.tokens}")
    with from_user():
        continuation = model.generate(
            args.prompt, args.tokens, temperature=args.temperature, top_k=args.top_k, seed=args.seed
        )
    sys.stdout.write(args.prompt + continuation + "\n")
    return 0
