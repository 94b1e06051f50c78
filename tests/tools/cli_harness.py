"""What the Python CLI tests share: checks that collect failures instead of stopping at the first, and a runner of
the switchyard binary that checks its exit status."""
import subprocess

failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what)


def runner(binary, *leading):
    """A function that runs `binary leading... args...` and checks it exits with `expect`."""
    def run(*args, expect=0, stdin=None):
        command = [binary, *leading, *args]
        result = subprocess.run(command, capture_output=True, text=True, input=stdin, timeout=300)
        check(result.returncode == expect, f"{' '.join(command[1:])}: exit {result.returncode}, expected {expect}\n"
                                           f"stdout: {result.stdout[:2000]}\nstderr: {result.stderr[:2000]}")
        return result
    return run
