"""Serves the demo merchant with uvicorn: `python -m examples.merchant --bug not-idempotent --port 8000`."""

from __future__ import annotations

import argparse
import os
import socket

from examples.merchant.app import BUGS, create_app


def main(argv: list[str] | None = None) -> None:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python -m examples.merchant",
        description="A demo merchant that takes Razorpay and Stripe webhooks and shows its books, with one\n"
                    "classic webhook-handler bug planted. Defaults come from the CARBON_DEMO_* variables.",
        epilog="bugs:\n" + "\n".join(f"  {name:<16}{what}" for name, what in BUGS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bug", choices=list(BUGS), default=env.get("CARBON_DEMO_BUG", "none"), metavar="BUG",
                        help="the bug to plant, listed below (default: none, a correct merchant)")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="the port to listen on; 0 picks a free one")
    # The default keeps the secret off the command line, where other users can see it.
    parser.add_argument("--secret", default=env.get("CARBON_DEMO_SECRET", "carbon"),
                        help="the webhook signing secret (default: $CARBON_DEMO_SECRET or `carbon`)")
    parser.add_argument("--previous-secret", default=env.get("CARBON_DEMO_PREVIOUS_SECRET") or None,
                        help="during a secret rotation, the old secret, still accepted "
                             "(default: $CARBON_DEMO_PREVIOUS_SECRET, else none)")
    parser.add_argument("--db", metavar="PATH", default=env.get("CARBON_DEMO_DB") or None,
                        help="the SQLite database (default: a new one in a temporary directory)")
    parser.add_argument("--slow-s", type=float, default=env.get("CARBON_DEMO_SLOW_S", "6.0"),
                        help="how long the `slow` bug takes to answer, in seconds (default: 6)")
    parser.add_argument("--queue-lag-s", type=float, default=env.get("CARBON_DEMO_QUEUE_LAG_S", "15.0"),
                        help="how long the `async-queue` bug waits before applying an event "
                             "(default: 15, longer than the 10 s the bundled oracles allow)")
    args = parser.parse_args(argv)
    if args.bug not in BUGS:  # a default from the environment skips argparse's own check
        parser.error(f"argument --bug: invalid choice: '{args.bug}' (choose from {', '.join(BUGS)})")
    try:
        import uvicorn
    except ImportError:
        parser.exit(1, "error: serving the merchant needs uvicorn (pip install uvicorn)\n")

    app = create_app(args.bug, args.secret, args.db, args.slow_s, args.queue_lag_s, args.previous_secret)
    # Bound here rather than by uvicorn, so the line below can name the port that `--port 0` got.
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Inherited by accepted connections: without it a keep-alive client waits out its delayed ACK
    # (~40 ms) on every response, since headers and body go out in separate writes.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        parser.exit(1, f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}\n")
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"merchant listening on http://{shown}:{port} (bug: {args.bug})", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


if __name__ == "__main__":
    main()
