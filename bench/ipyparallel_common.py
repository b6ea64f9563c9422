"""What the ipyparallel sides of `npm run bench` share.

Besides its results, a script reports on stdout, one JSON object a line, the
pids of every process a cluster starts ({"pids": [...]}) as soon as they are
known, so that bench/run.ts can check after the script ends that none is left
running (and end the ones that are), even if the script itself was killed.
"""
import json
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import ipyparallel as ipp


def log(msg):
    print(f"[bench ipyparallel] {msg}", file=sys.stderr, flush=True)


def emit(**fields):
    """One JSON object on a line of stdout."""
    print(json.dumps(fields), flush=True)


def sample(n, call):
    """Milliseconds of each of n calls, one at a time."""
    out = []
    for i in range(n):
        t = time.perf_counter()
        call(i)
        out.append((time.perf_counter() - t) * 1000)
    return out


def process_tree(*roots):
    """Processes and their descendants."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children = {}
    for line in out.split("\n"):
        parts = line.split()
        if len(parts) == 2:
            children.setdefault(int(parts[1]), []).append(int(parts[0]))
    pids = list(roots)
    i = 0
    while i < len(pids):
        pids.extend(children.get(pids[i], []))
        i += 1
    return pids


class Stopped(BaseException):
    """A signal to stop: not a KeyboardInterrupt, which ipyparallel's blocking calls swallow."""


_deferred = []


def _interrupt(signum, frame):
    raise Stopped(f"signal {signum}")


def _defer(signum, frame):
    _deferred.append(signum)


def _on_signals(handler):
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def run_main(main):
    """main(), where SIGTERM (what bench/run.ts sends) and SIGINT raise Stopped, so that `finally` stops the cluster."""
    _on_signals(_interrupt)
    try:
        main()
    except Stopped as e:
        log(f"stopped: {e}")
        sys.exit(1)


def _launched(cluster):
    """The pids of the controller and engines `cluster` has launched."""
    controller = [cluster.controller.pid] if cluster.controller is not None else []
    engines = [el.pid for es in cluster.engines.values() for el in es.launchers.values()]
    return [p for p in controller + engines if p is not None]


def _start(cluster, n, timeout):
    """Start n engines, reporting pids as they come; the client, and seconds until all n are registered.

    `timeout` is for the whole start: the wait for the engines gets what is left of it.
    """
    t0 = time.perf_counter()
    cluster.start_controller_sync()
    emit(pids=[cluster.controller.pid])
    cluster.start_engines_sync(n)
    launched = _launched(cluster)
    emit(pids=launched)
    rc = cluster.connect_client_sync()
    rc.wait_for_engines(n, timeout=max(0.0, timeout - (time.perf_counter() - t0)))
    seconds = time.perf_counter() - t0
    # with their children: the controller's schedulers, each engine's nanny
    emit(pids=process_tree(*launched))
    return rc, seconds


def _stop(cluster, rc):
    """Stop what `cluster` started, whatever state it is in; a signal meanwhile waits until it is stopped."""
    _on_signals(_defer)
    try:
        # their children too (a start that failed has not reported them)
        emit(pids=process_tree(*_launched(cluster)))
        if rc is not None:
            rc.close()
        cluster.stop_cluster_sync()
    finally:
        _on_signals(_interrupt)
    if _deferred:
        raise Stopped(f"signal {_deferred[0]}")


@contextmanager
def running_cluster(n, timeout):
    """A cluster of n engines, stopped on leaving: yields (cluster, client, seconds the start took)."""
    cluster = ipp.Cluster(n=n, log_level=40)
    rc = None
    try:
        rc, seconds = _start(cluster, n, timeout)
        yield cluster, rc, seconds
    finally:
        _stop(cluster, rc)
