#!/usr/bin/env python3
"""bench-stats.py - turn hyperfine's --export-json into the tables bench.sh prints.

    bench-stats.py warm PLOT.dat WARM.json...  start latency of crate, runc, bwrap, floor
    bench-stats.py cold COLD.json...         first run of crate vs tar -xzf
    bench-stats.py steps CRATE.log           crate's own step timings
    bench-stats.py engine ENGINE.json...     crate vs runc under an engine's cycle and ctr run

Medians, not means: on a shared two-core machine a few runs land behind
someone else's work, and the median ignores them where the mean would not.
The quartiles and extremes are printed too, so the spread is visible.
"""
import json
import statistics
import sys


def load(*paths):
    """Return {command name: stats in ms}, the runs of all files merged."""
    times = {}
    for path in paths:
        with open(path) as f:
            for r in json.load(f)["results"]:
                times.setdefault(r["command"], []).extend(r["times"])
    out = {}
    for name, seconds in times.items():
        ms = sorted(t * 1000 for t in seconds)
        q1, _, q3 = statistics.quantiles(ms, n=4, method="inclusive")
        out[name] = {
            "median": statistics.median(ms),
            "q1": q1,
            "q3": q3,
            "min": ms[0],
            "max": ms[-1],
            "runs": len(ms),
        }
    return out


def verdict(ratio, goal):
    return "MET" if ratio <= goal else "NOT MET"


def warm(dat, paths):
    s = load(*paths)
    s = {name: s[name] for name in ("crate", "crate@base", "runc", "bwrap", "floor") if name in s}
    runc, floor = s["runc"]["median"], s["floor"]["median"]
    print(f"{'tool':<10} {'median ms':>10} {'q1':>8} {'q3':>8} {'min':>8} {'max':>8} {'× runc':>8} {'× floor':>8}")
    for name, v in s.items():
        print(f"{name:<10} {v['median']:>10.2f} {v['q1']:>8.2f} {v['q3']:>8.2f} {v['min']:>8.2f} {v['max']:>8.2f}"
              f" {v['median'] / runc:>8.2f} {v['median'] / floor:>8.2f}")
    runs = {v["runs"] for v in s.values()}
    print(f"({'/'.join(map(str, sorted(runs)))} runs each, in rounds, after warm-up; q1/q3 are the quartiles)")
    ratio = s["crate"]["median"] / runc
    print(f"goal: crate ≤ 0.5× runc — {verdict(ratio, 0.5)} (crate/runc = {ratio:.2f})")
    if "crate@base" in s:
        base = s["crate@base"]["median"]
        print(f"against the baseline: crate/runc = {ratio:.3f}, crate@base/runc = {base / runc:.3f},"
              f" crate/crate@base = {s['crate']['median'] / base:.3f}")
    with open(dat, "w") as f:
        f.write("# index tool median q1 q3 min max (ms)\n")
        for i, (name, v) in enumerate(s.items()):
            f.write(f"{i} {name} {v['median']:.3f} {v['q1']:.3f} {v['q3']:.3f} {v['min']:.3f} {v['max']:.3f}\n")


def cold(paths):
    s = load(*paths)
    print(f"{'what':<28} {'median ms':>10} {'min':>8} {'max':>8} {'runs':>5}")
    labels = {"crate": "crate run (import + start)", "tar": "tar -xzf"}
    for name in ("crate", "tar"):
        v = s[name]
        print(f"{labels.get(name, name):<28} {v['median']:>10.1f} {v['min']:>8.1f} {v['max']:>8.1f} {v['runs']:>5}")
    ratio = s["crate"]["median"] / s["tar"]["median"]
    print(f"goal: crate ≤ 1.0× tar — {verdict(ratio, 1.0)} (crate/tar = {ratio:.2f})")


# The container steps crate logs with a duration, in the order they happen;
# "container exited" carries the container's wall time instead.
STEPS = ("root filesystem ready", "cgroup created", "container started", "cleaned up")


def steps(path):
    got = {}
    with open(path) as f:
        for line in f:
            entry = json.loads(line)
            msg = entry.get("@message")
            if msg in STEPS and "duration" in entry:
                got.setdefault(msg, []).append(entry["duration"] / 1e6)
            elif msg == "container exited" and "wall_time" in entry:
                got.setdefault("wall time (start to exit)", []).append(entry["wall_time"] / 1e6)
    for name, ms in got.items():
        print(f"  {name:<28} {statistics.median(ms):>8.2f} ms")


def engine(paths):
    s = load(*paths)
    print(f"{'what':<34} {'median ms':>10} {'q1':>8} {'q3':>8} {'min':>8} {'max':>8}")
    labels = {"crate": "create+start+delete, crate", "runc": "create+start+delete, runc",
              "ctr+crate": "ctr run --rm, crate", "ctr+runc": "ctr run --rm, runc"}
    for name in ("crate", "runc", "ctr+crate", "ctr+runc"):
        v = s[name]
        print(f"{labels[name]:<34} {v['median']:>10.2f} {v['q1']:>8.2f} {v['q3']:>8.2f} {v['min']:>8.2f} {v['max']:>8.2f}")
    runs = {v["runs"] for v in s.values()}
    print(f"({'/'.join(map(str, sorted(runs)))} runs each, in rounds, after warm-up; through a shell, the same for both)")
    print(f"crate/runc: OCI cycle {s['crate']['median'] / s['runc']['median']:.2f},"
          f" ctr run {s['ctr+crate']['median'] / s['ctr+runc']['median']:.2f}")


def main(argv):
    if len(argv) >= 4 and argv[1] == "warm":
        warm(argv[2], argv[3:])
    elif len(argv) >= 3 and argv[1] == "cold":
        cold(argv[2:])
    elif len(argv) == 3 and argv[1] == "steps":
        steps(argv[2])
    elif len(argv) >= 3 and argv[1] == "engine":
        engine(argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
