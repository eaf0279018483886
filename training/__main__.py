"""Command line: python -m training [--config FILE] [--set key=value ...].

Bad input (an invalid config, unusable data) prints one line on stderr and exits with
status 2, having written nothing.
"""

from __future__ import annotations

import argparse
import os
import sys

from training.config import describe_keys
from training.errors import TrainingError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other bad input
        self.exit(2, f"error: {message} (see --help)\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's options."""
    parser = _Parser(
        prog="python -m training",
        description="Train a classifier and publish it as the next version under models/<name>/.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="config keys (in the YAML file or with --set):\n" + describe_keys(),
    )
    parser.add_argument(
        "--config", metavar="FILE",
        help="YAML config, or a built-in name: digits, iris, wine, breast_cancer"
             " (default: digits)",
    )
    parser.add_argument(
        "--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
        help="override one config key, e.g. --set epochs=30 --set hidden_units=[64,32]",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the job; return the process exit status."""
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from training.job import run

    try:
        run(args.config, args.overrides)
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; nothing was published", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
