"""Runs a command (a shell pipeline when given one string) and prints its wall time in seconds,
the peak resident memory in MiB of the largest process it started, the CPU seconds (user +
system) of everything it started, the CPU seconds the whole machine spent meanwhile (which also
counts the servers it talks to: PostgreSQL, the S3 server), and the CPU seconds of the busiest
thread of the process itself (sampled every 20 ms, so a thread's last moments may be missed):
what no number of cores can spread."""
import os
import resource
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def machine_busy_seconds():
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq = map(int, stat.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / TICK


def thread_seconds(pid, seen):
    """Adds each live thread's CPU seconds so far to `seen` (thread id -> seconds)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime and stime are fields 14 and 15 of stat; 12 and 13 after the name is cut off.
        seen[tid] = (int(fields[11]) + int(fields[12])) / TICK


start, busy = time.monotonic(), machine_busy_seconds()
args = sys.argv[1:]
child = subprocess.Popen(args[0] if len(args) == 1 else args, shell=len(args) == 1,
                         executable="/bin/bash" if len(args) == 1 else None)
threads = {}
while child.poll() is None:
    thread_seconds(child.pid, threads)
    time.sleep(0.02)
wall = time.monotonic() - start
machine = machine_busy_seconds() - busy
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
peak_mib = usage.ru_maxrss / 1024
cpu = usage.ru_utime + usage.ru_stime
if child.returncode != 0:
    sys.exit(f"command failed with {child.returncode}: {args}")
busiest = max(threads.values(), default=0.0)
print(f"{wall:.2f} {peak_mib:.1f} {cpu:.2f} {machine:.2f} {busiest:.2f}")
