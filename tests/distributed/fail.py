"""Rank 1 fails while rank 0 waits for it in an all_reduce: `mpiexec -n 2 python fail.py raise|exit`.
raise: an uncaught exception (the job must abort at once); exit: sys.exit(3) (the job must end once the
2-second exit deadline has passed). Rank 0 must never print "finished"."""
import datetime
import sys

import minigrad as mg
import minigrad.distributed as dist

dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=2))
if dist.get_rank() == 1:
    if sys.argv[1] == "raise":
        raise ValueError("bad batch 7")
    sys.exit(3)
dist.all_reduce(mg.zeros(3))
print("finished")
