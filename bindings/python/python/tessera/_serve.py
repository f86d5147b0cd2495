"""``python -m tessera._serve scheduler|worker ...``: the processes of a
``tessera.distributed.LocalCluster`` (the same loops as ``tessera scheduler`` and
``tessera worker``, with the same arguments)."""

import argparse
import sys

from . import _core


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tessera._serve")
    commands = parser.add_subparsers(dest="command", required=True)
    scheduler = commands.add_parser("scheduler")
    scheduler.add_argument("--listen", default="127.0.0.1:0")
    scheduler.add_argument("--cluster-file", required=True)
    worker = commands.add_parser("worker")
    worker.add_argument("--cluster-file", required=True)
    worker.add_argument("--threads", type=int, default=1)
    worker.add_argument("--memory-limit", type=int, required=True)
    worker.add_argument("--name", default="worker")
    worker.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    try:
        if args.command == "scheduler":
            _core.serve_scheduler(args.listen, args.cluster_file)
        else:
            _core.serve_worker(args.cluster_file, args.threads, args.memory_limit, args.name, args.device)
    except KeyboardInterrupt:
        pass
    except Exception as e:  # one line, as the CLI reports it
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
