"""The ipyparallel side of `npm run bench`: the same workloads as bench/run.ts.

Prints progress on stderr and, last on stdout, its results keyed like the
tscluster side ({"result": {...}}, see ipyparallel_common.py). Run by
bench/run.ts with /usr/bin/python3 (Debian's python3-ipyparallel) and
IPYTHONDIR set to a temporary directory.
"""
import argparse
import statistics
import time

import numpy as np

from ipyparallel_common import emit, log, process_tree, run_main, running_cluster, sample


def noop(x=None):
    return x


def burn(n):
    s = 0
    for i in range(n):
        s = (s + (i * i) % 7) & 0xFFFFFFFF
    return s


def calibrate(seconds):
    n = 100_000
    while True:
        t = time.perf_counter()
        burn(n)
        dt = time.perf_counter() - t
        if dt > 0.05:
            return int(n * seconds / dt)
        n *= 4


def tree_rss_mb(pid):
    """Resident memory of a process and its descendants (ipcontroller runs schedulers as children)."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engines", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    q = a.quick
    reps = 1 if q else 3
    samples = 200 if q else 1000
    n_tasks = 1000 if q else 5000
    map_items = 20_000 if q else 1_000_000
    push_mb = 10 if q else 100
    cpu_tasks, cpu_s = (4, 0.1) if q else (16, 0.5)
    rss_tasks = 2000 if q else 20_000
    out = {}

    log("startup")
    starts = []
    for _ in range(reps):
        with running_cluster(4, 120) as (_cluster, _rc, seconds):
            starts.append(seconds)
    out["startup_s"] = statistics.median(starts)

    with running_cluster(a.engines, 120) as (cluster, rc, _):
        lb = rc.load_balanced_view()
        d0 = rc[rc.ids[0]]
        for i in range(100):
            lb.apply_sync(noop, i)

        log("round trips")
        lat = sample(samples, lambda i: lb.apply_sync(noop, i))
        out["lb_roundtrip_ms"] = statistics.median(lat)
        out["lb_roundtrip_p99_ms"] = sorted(lat)[min(len(lat) - 1, int(0.99 * len(lat)))]
        out["direct_roundtrip_ms"] = statistics.median(sample(samples, lambda i: d0.apply_sync(noop, i)))

        log("throughput")
        rates = []
        for _ in range(reps):
            t = time.perf_counter()
            ars = [lb.apply_async(noop, i) for i in range(n_tasks)]
            for ar in ars:
                ar.get()
            rates.append(n_tasks / (time.perf_counter() - t))
        out["lb_throughput_tasks_per_s"] = statistics.median(rates)
        # the rows of tscluster's other options compare with ipyparallel at its default
        for key in ("hwm0", "prefetch1", "dashboard_watched", "dashboard_off"):
            out[f"lb_throughput_{key}_tasks_per_s"] = out["lb_throughput_tasks_per_s"]

        log("map")
        rates = []
        for _ in range(reps):
            t = time.perf_counter()
            r = lb.map_sync(noop, range(map_items), chunksize=1000)
            assert len(r) == map_items
            rates.append(map_items / (time.perf_counter() - t))
        out["map_items_per_s"] = statistics.median(rates)

        log("push and pull")
        arr = np.zeros(push_mb * 1024 * 1024 // 8)
        pushes, pulls = [], []
        for _ in range(reps):
            t = time.perf_counter()
            d0.push({"big": arr}, block=True)
            pushes.append(push_mb / (time.perf_counter() - t))
            t = time.perf_counter()
            back = d0.pull("big", block=True)
            pulls.append(push_mb / (time.perf_counter() - t))
            assert len(back) == len(arr)
        out["push_MBps"] = statistics.median(pushes)
        out["pull_MBps"] = statistics.median(pulls)
        d0.execute("big = None", block=True)

        log("cpu speedup")
        n = calibrate(cpu_s)
        t = time.perf_counter()
        for _ in range(cpu_tasks):
            burn(n)
        serial = time.perf_counter() - t
        t = time.perf_counter()
        lb.map_sync(burn, [n] * cpu_tasks)
        out["cpu_speedup"] = serial / (time.perf_counter() - t)

        log(f"controller memory after {rss_tasks} tasks")
        done = 0
        while done < rss_tasks:
            k = min(5000, rss_tasks - done)
            ars = [lb.apply_async(noop, i) for i in range(k)]
            for ar in ars:
                ar.get()
            done += k
        # at rest, as the tscluster side (bench/run.ts, REST_BEFORE_RSS_MS)
        time.sleep(2)
        out["controller_rss_2s_MB"] = tree_rss_mb(cluster.controller.process.pid)
        time.sleep(8)
        out["controller_rss_MB"] = tree_rss_mb(cluster.controller.process.pid)
        out["rss_tasks"] = rss_tasks
    emit(result=out)


if __name__ == "__main__":
    run_main(main)
