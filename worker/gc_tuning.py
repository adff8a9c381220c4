"""The garbage collector's settings for a process that hosts twins (``elu-twins up``, a
Celery worker)."""

import gc

#: The cyclic garbage collector's thresholds while a process hosts twins (Python's
#: default: 700, 10, 10). Each twin's meter value allocates events and frames that live
#: until the event writer has written them, a few tens of milliseconds: with a collection
#: every 700 allocations most of them survive into the old generation, and the full
#: collections that follow walk the whole heap (1,000 charging twins: one every ~40 s,
#: ~0.3 s each; ~13 % of the process's CPU with the young collections).
#: A young collection costs what it finds alive, not what the threshold says: with
#: 10,000 charging twins, at 50,000 one ran every ~3 s for ~54 ms (cold memory), ~10 % of
#: the process's CPU; at 200,000 one every ~40 s for ~0.2 s, a quarter of that
#: (benchmarks/README.md, "fifth session").
GC_THRESHOLDS = (200_000, 20, 10)


def tune_gc() -> None:
    """What exists once the host has started (modules, apps, the host) lives as long as
    the process: take it out of the collector's sight (``gc.freeze``), and collect the young
    generation less often (:data:`GC_THRESHOLDS`), so that short-lived objects are freed by
    their reference counts before a collection promotes them."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
