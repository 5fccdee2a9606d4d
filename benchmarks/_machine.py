"""What every benchmark shares: the CPU model it records with its figures, and the timing loop."""
import platform
import time


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def timings(fn, rounds, warmup=1):
    """Seconds of each of `rounds` calls of fn, after `warmup` untimed calls (JIT, allocator)."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out
