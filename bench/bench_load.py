#!/usr/bin/python3
"""Load benchmark: runs `switchyard load` on a model several times, CPU-only progressive and lazy, and prints the
medians next to the targets: peak resident memory <= 1.05 x file + 64 MiB with zero weight bytes copied, and lazy
opening (open + plan + handles) under 50 ms. Every run is a fresh process, so the figures include first faults.

Usage: bench/bench_load.py MODEL.gguf [--switchyard build/bin/switchyard] [--runs 7]
"""
import argparse, json, statistics, subprocess, sys

def run(switchyard, model, *flags):
    out = subprocess.run([switchyard, "load", "-m", model, "--format", "json", *flags],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--switchyard", default="build/bin/switchyard")
    p.add_argument("--runs", type=int, default=7)
    a = p.parse_args()

    cpu = [run(a.switchyard, a.model, "--policy", "cpu") for _ in range(a.runs)]
    lazy = [run(a.switchyard, a.model, "--policy", "cpu", "--load-mode", "lazy") for _ in range(a.runs)]
    size = cpu[0]["file_bytes"]
    limit = 1.05 * size + 64 * 2**20
    peak = statistics.median(r["peak_resident_bytes"] for r in cpu)
    copied = max(r["copied_bytes"] for r in cpu)
    load_s = statistics.median(sum(r["phases"].values()) for r in cpu)
    lazy_ms = statistics.median(1000 * (r["phases"]["open"] + r["phases"]["plan"] + r["phases"]["handles"]) for r in lazy)
    plugins_ms = statistics.median(1000 * r["phases"]["plugins"] for r in lazy)
    mib = 2**20
    print(f"model                       {a.model} ({size / mib:.1f} MiB), {a.runs} runs, medians")
    print(f"CPU load: peak resident     {peak / mib:.1f} MiB   target <= {limit / mib:.1f} MiB   "
          f"{'met' if peak <= limit else 'MISSED'}")
    print(f"CPU load: weight bytes copied {copied}   target 0   {'met' if copied == 0 else 'MISSED'}")
    print(f"CPU load: total time        {load_s * 1000:.1f} ms")
    print(f"lazy open (open+plan+handles) {lazy_ms:.1f} ms   target < 50 ms   {'met' if lazy_ms < 50 else 'MISSED'}"
          f"   (plugin discovery, separate: {plugins_ms:.1f} ms)")
    return 0

if __name__ == "__main__":
    sys.exit(main())
