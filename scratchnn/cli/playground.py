"""``scratchnn playground``: serve the playground (``scratchnn.playground.server``) on a local port."""

from __future__ import annotations

import socket
import sys

from ..playground.session import IDLE_TIMEOUT
from . import options
from .errors import UserError, from_user

HELP = "the playground in the browser: watch a network learn, draw a digit"
DESCRIPTION = (
    "Serve the playground on http://127.0.0.1:PORT/: train small networks on 2-D data sets (or your own CSV) "
    "and watch them learn, download the model and a script that reproduces it, and draw digits for a "
    "Digits classifier. Prints the address and opens nothing; Ctrl-C stops it."
)
EPILOG = """\
Needs the playground extra: pip install 'scratchnn[playground]'

examples:
  scratchnn playground                       # a free port on 127.0.0.1
  scratchnn playground --port 8000 --model runs/digits/model.npz
"""

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def add_arguments(parser) -> None:
    parser.add_argument(
        "--port", type=options.non_negative_int, default=0, help="port to serve on (default: a free port)"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default: %(default)s, this machine only; any other address lets anyone "
        "who can reach the port use the playground)",
    )
    parser.add_argument(
        "--model",
        metavar="PATH",
        help="the digit classifier: a model file with 64 inputs, e.g. from 'scratchnn train --data digits' "
        "(default: one trained on Digits when the page first needs it)",
    )
    parser.add_argument(
        "--max-sessions",
        type=options.positive_int,
        default=24,
        metavar="N",
        help="tabs that may be open at once; more are told to retry (default: %(default)s)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=options.positive_float,
        default=IDLE_TIMEOUT,
        metavar="SECONDS",
        help="close a tab's session after this long without a message while it is not training "
        "(default: %(default)g)",
    )
    options.add_common(parser)


def run(args) -> int:
    try:
        import uvicorn

        from ..playground.server import create_app
    except ImportError as exc:
        raise UserError(
            f"the playground needs its web server packages ({exc.name} is missing): "
            "pip install 'scratchnn[playground]'"
        ) from None
    from threadpoolctl import threadpool_limits

    # Many small networks train at once, each in one of the server's worker threads: a BLAS that also
    # threads each tiny product only makes the workers wait for each other.
    threadpool_limits(1)
    with from_user():  # a --model that is not a digit classifier is the user's to fix
        app = create_app(
            max_sessions=args.max_sessions,
            digit_model=args.model,
            host=args.host,
            idle_timeout=args.idle_timeout,
        )
    try:
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
        sock.listen(2048)  # before the address is printed: a client may connect at once (uvicorn's backlog)
    except (OSError, OverflowError) as exc:
        raise UserError(f"cannot serve on --host {args.host!r} --port {args.port}: {exc}") from None
    port = sock.getsockname()[1]
    shown = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    if args.host not in LOCAL_HOSTS:
        print(
            f"warning: serving on {args.host}: anyone who can reach port {port} can use this playground "
            "(and its CPU); use the default --host 127.0.0.1 to keep it to this machine",
            file=sys.stderr,
            flush=True,
        )
    config = uvicorn.Config(app, log_level="warning", ws_max_size=1 << 20, lifespan="on")
    server = uvicorn.Server(config)
    try:
        print(f"scratchnn playground: http://{shown}:{port}/ (Ctrl-C stops it)", flush=True)
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn shut down cleanly and re-raised the Ctrl-C it caught (or it came before it started)
    finally:
        sock.close()
    if not args.quiet:
        print("scratchnn playground: stopped", flush=True)
    return 0
