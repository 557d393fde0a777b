"""Runs a command (a shell pipeline when given one string) and prints its wall time in seconds,
the peak resident memory in MiB of the largest process it started, the CPU seconds (user +
system) of everything it started, and the CPU seconds the whole machine spent meanwhile (which
also counts the servers it talks to: PostgreSQL, the S3 server)."""
import os
import resource
import subprocess
import sys
import time


def machine_busy_seconds():
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq = map(int, stat.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


start, busy = time.monotonic(), machine_busy_seconds()
args = sys.argv[1:]
result = subprocess.run(args[0] if len(args) == 1 else args, shell=len(args) == 1,
                        executable="/bin/bash" if len(args) == 1 else None)
wall = time.monotonic() - start
machine = machine_busy_seconds() - busy
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
peak_mib = usage.ru_maxrss / 1024
cpu = usage.ru_utime + usage.ru_stime
if result.returncode != 0:
    sys.exit(f"command failed with {result.returncode}: {args}")
print(f"{wall:.2f} {peak_mib:.1f} {cpu:.2f} {machine:.2f}")
