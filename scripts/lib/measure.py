"""Runs a command (a shell pipeline when given one string) and prints its wall time in seconds,
the peak resident memory in MiB of the largest process it started, and the CPU seconds (user +
system) of everything it started."""
import resource
import subprocess
import sys
import time

start = time.monotonic()
args = sys.argv[1:]
result = subprocess.run(args[0] if len(args) == 1 else args, shell=len(args) == 1,
                        executable="/bin/bash" if len(args) == 1 else None)
wall = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
peak_mib = usage.ru_maxrss / 1024
cpu = usage.ru_utime + usage.ru_stime
if result.returncode != 0:
    sys.exit(f"command failed with {result.returncode}: {args}")
print(f"{wall:.2f} {peak_mib:.1f} {cpu:.2f}")
