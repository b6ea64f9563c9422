"""The ipyparallel side of `npm run bench -- --scale`: one engine count a run.

The same workloads, sizes and repetitions as bench/scale.ts, all given on the
command line by it. Each result goes to stdout as soon as it is measured, one
JSON object a line ({"result": {workload: value}} or {"error": {workload:
message}}), so that what was measured survives a workload that fails and a
run that is stopped.
"""
import argparse
import statistics
import time

import numpy as np

from ipyparallel_common import emit, log, run_main, running_cluster, sample


def noop(x=None):
    return x


def measure(workload, run, timeout):
    """Emit run(wait)'s value as `workload`, or why it failed; True if it succeeded.

    wait(ar) is ar.get() with what is left of `timeout` seconds for the whole
    workload; wait() only raises TimeoutError if none is left.
    """
    log(workload)
    deadline = time.perf_counter() + timeout
    timed_out = f"timed out after {timeout:g} s"

    def wait(ar=None):
        left = deadline - time.perf_counter()
        if left <= 0:
            raise TimeoutError(timed_out)
        if ar is None:
            return None
        try:
            return ar.get(left)
        except TimeoutError:
            raise TimeoutError(timed_out) from None

    try:
        emit(result={workload: run(wait)})
        return True
    except TimeoutError as e:
        emit(error={workload: str(e)})
        return False
    except Exception as e:
        emit(error={workload: f"{type(e).__name__}: {e}"})
        return False


def not_run(workloads, failed):
    # the cluster may still be busy with what failed: what follows would measure that
    emit(error={w: f"not run: {failed} failed" for w in workloads})


def fanout_ms(rc, a, wait):
    dv = rc[:]

    def fan(i):
        r = wait(dv.apply_async(noop, i))
        if len(r) != a.engines:
            raise RuntimeError(f"fan-out returned {len(r)} results from {a.engines} engines")

    for i in range(a.warmup):
        fan(i)
    return statistics.median(sample(a.fanout_samples, fan))


def push_all_s(rc, a, wait):
    dv = rc[:]
    big = np.zeros(a.push_mb * 1024 * 1024 // 8)
    seconds = statistics.median(sample(a.push_reps, lambda _: wait(dv.push({"big": big}, block=False)))) / 1000
    wait(dv.execute("big = None", block=False))
    return seconds


def lb_tasks_per_s(rc, a, wait):
    lb = rc.load_balanced_view()
    rates = []
    for _ in range(a.lb_reps):
        t = time.perf_counter()
        ars = []
        for i in range(a.lb_tasks):
            ars.append(lb.apply_async(noop, i))
            if i % 100 == 99:
                wait()  # the submission alone may take the time
        for ar in ars:
            wait(ar)
        rates.append(a.lb_tasks / (time.perf_counter() - t))
    return statistics.median(rates)


def arguments():
    ap = argparse.ArgumentParser()
    for name in ["engines", "warmup", "fanout-samples", "push-mb", "push-reps", "lb-tasks", "lb-reps"]:
        ap.add_argument(f"--{name}", type=int, required=True)
    ap.add_argument("--timeout", type=float, required=True, help="seconds the start or a workload may take")
    return ap.parse_args()


def main():
    a = arguments()
    workloads = {"fanout_noop_ms": fanout_ms, f"push{a.push_mb}MB_all_s": push_all_s, "lb_throughput_tasks_per_s": lb_tasks_per_s}
    log(f"{a.engines} engines: startup")
    started = False
    try:
        with running_cluster(a.engines, a.timeout) as (_, rc, seconds):
            started = True
            emit(result={"startup_s": seconds})
            names = list(workloads)
            for i, workload in enumerate(names):
                if not measure(workload, lambda wait: workloads[workload](rc, a, wait), a.timeout):
                    not_run(names[i + 1 :], workload)
                    break
    except Exception as e:
        if started:
            raise
        emit(error={"startup_s": f"{type(e).__name__}: {e}"})
        not_run(workloads, "startup_s")


if __name__ == "__main__":
    run_main(main)
