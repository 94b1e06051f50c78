"""`switchyard bench` as a user runs it, on tiny sizes: the JSON reads like llama-bench's (one object per test,
its field names and counts), md and csv carry their headers, and a bad list is a usage error naming the flag."""
import json
import os
import subprocess
import sys
import tempfile

SWITCHYARD, SHARED = sys.argv[1], sys.argv[2]
MODELS = os.path.join(SHARED, "models")
from cli_harness import check, failures, runner

bench = runner(SWITCHYARD, "bench")


work = tempfile.TemporaryDirectory()
# A TQ1_0 file, whose matrices the CPU stores as TQ2_0 (placement.reencode): its bytes per token are the stored ones.
TQ1_0 = os.path.join(work.name, "bitnet-tq1_0.gguf")
subprocess.run([SWITCHYARD, "quantize", "-m", os.path.join(MODELS, "synth-bitnet-F32.gguf"), "-o", TQ1_0, "--type",
                "tq1_0", "--embedding-type", "q6_K"], capture_output=True, check=True)
for name in ("stories260K.gguf", "synth-tiny-Q4_0.gguf", TQ1_0):
    model = os.path.join(MODELS, name)
    out = bench("-m", model, "-p", "8", "-n", "4", "-r", "2", "-t", "1", "--format", "json")
    rows = json.loads(out.stdout)
    check(isinstance(rows, list) and len(rows) == 2, f"{name}: two tests (pp8, tg4): {out.stdout[:500]}")
    check(out.stderr == "", f"{name}: nothing on stderr when it is not a terminal: {out.stderr[:500]}")
    expected = [(8, 0), (0, 4)]
    for row, (n_prompt, n_gen) in zip(rows, expected):
        for field in ("build_commit", "cpu_info", "backends", "model_filename", "model_type", "model_size",
                      "model_n_params", "n_batch", "type_k", "test_time", "avg_ns", "stddev_ns", "stddev_ts",
                      "samples_ns", "load_seconds", "peak_resident_bytes", "placement",
                      "read_bandwidth_bytes_per_second"):
            check(field in row, f"{name}: field {field}")
        check(row["n_prompt"] == n_prompt and row["n_gen"] == n_gen, f"{name}: n_prompt/n_gen {row}")
        check(row["n_threads"] == 1, f"{name}: n_threads")
        check(len(row["samples_ts"]) == 2 and len(row["samples_ns"]) == 2, f"{name}: two samples")
        check(row["avg_ts"] > 0, f"{name}: avg_ts > 0")
        check(row["read_bandwidth_bytes_per_second"] > 1e8, f"{name}: read bandwidth measured")
        check(row["placement"] == ["cpu"], f"{name}: placement {row['placement']}")
        # small models stay in the mapping under loading.cpu_weights auto (the default)
        check(row.get("cpu_weights") == "mapped", f"{name}: cpu_weights {row.get('cpu_weights')}")
        check(("bandwidth_fraction" in row) == (n_gen > 0), f"{name}: bandwidth_fraction only for tg")
    check(rows[1].get("bandwidth_fraction", 0) > 0, f"{name}: bandwidth_fraction > 0")
    # bytes_per_token: the planned tensors as stored, less an embedding table that is only looked up (a separate
    # output head).
    plan = json.loads(subprocess.run([SWITCHYARD, "plan", "-m", model, "--format", "json"], capture_output=True,
                                     text=True, check=True).stdout)
    names = {t["name"] for t in plan["tensors"]}
    streamed = sum(t["bytes"] for t in plan["tensors"]
                   if not (t["name"] == "token_embd.weight" and "output.weight" in names))
    check(all(row.get("bytes_per_token") == streamed for row in rows),
          f"{name}: bytes_per_token {[row.get('bytes_per_token') for row in rows]} against the plan's {streamed}")
    if name == TQ1_0:
        # Its head is tied, so a token streams every tensor: as TQ2_0 more than the whole file holds.
        check(any(t["type"] == "tq2_0" for t in plan["tensors"]) and streamed > rows[0]["model_size"],
              f"the TQ1_0 file streams its re-encoded bytes: {streamed} for a {rows[0]['model_size']}-byte file")

model = os.path.join(MODELS, "synth-tiny-Q4_0.gguf")
md = bench("-m", model, "-p", "8", "-n", "4", "-r", "2", "-t", "1,2").stdout.splitlines()
check(len(md) == 6, f"md: header, rule and four rows: {md}")
check(md and md[0].split("|")[1:-1] and [c.strip() for c in md[0].split("|")[1:-1]] ==
      ["model", "size", "params", "backend", "threads", "test", "t/s"], f"md header: {md[:1]}")
check([line.split("|")[6].strip() for line in md[2:]] == ["pp8", "tg4", "pp8", "tg4"], f"md: test names {md}")
check(any("±" in line and "tg4" in line for line in md), "md: tg4 row with mean ± stddev")
check([line.split("|")[5].strip() for line in md[2:]] == ["1", "1", "2", "2"], f"md: thread counts {md}")
csv = bench("-m", model, "-p", "8", "-n", "0", "-r", "2", "-t", "1", "--format", "csv").stdout.splitlines()
check(len(csv) == 2 and csv[0].startswith("build_commit,") and "avg_ts" in csv[0].split(","), f"csv: {csv}")

# loading.cpu_weights copy: the CPU's weights in its own memory, and the JSON says so
with tempfile.NamedTemporaryFile("w", suffix=".json") as config:
    config.write('{"loading": {"cpu_weights": "copy"}}')
    config.flush()
    out = bench("-m", os.path.join(MODELS, "stories260K.gguf"), "-p", "0", "-n", "2", "-r", "1", "-t", "1",
                "--config", config.name, "--format", "json")
    rows = json.loads(out.stdout)
    check(rows and rows[0].get("cpu_weights") == "copied", f"copy config: cpu_weights {rows}")
    # the flag overrides the file
    out = bench("-m", os.path.join(MODELS, "stories260K.gguf"), "-p", "0", "-n", "2", "-r", "1", "-t", "1",
                "--config", config.name, "--cpu-weights", "map", "--format", "json")
    rows = json.loads(out.stdout)
    check(rows and rows[0].get("cpu_weights") == "mapped", f"--cpu-weights map over the file: {rows}")
out = bench("-m", os.path.join(MODELS, "stories260K.gguf"), "--cpu-weights", "mmap", expect=2)
check("--cpu-weights" in out.stderr, f"a bad --cpu-weights names the flag: {out.stderr}")

for flag, value in (("-p", "8,x"), ("-n", "-1"), ("-t", "0"), ("-p", "")):
    out = bench("-m", model, flag, value, expect=2)
    check(f"{flag} '" in out.stderr, f"bad {flag} names the flag: {out.stderr}")

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("bench CLI: all checks passed")
