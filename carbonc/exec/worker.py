"""One worker of `carbonc run --workers N`: `python -m carbonc.exec.worker`, its `WorkerSpec` on
stdin, its reports on stdout (see `exec.workers`)."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from carbonc._gc import freeze_at_exit
    from carbonc.errors import CarbonError
    from carbonc.exec.workers import worker_main

    freeze_at_exit()
    try:
        sys.exit(worker_main())
    except CarbonError as exc:
        # Said on stderr, which the run that started this worker shows as the worker's failure.
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:  # stopped before its run began: nothing of it is recorded
        sys.exit(130)
