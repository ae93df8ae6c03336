"""The simulator: a virtual clock replaying traces through the same scheduling core.

    reader.py    Standard Workload Format (plain or .gz) -> Trace
    protocol.py  Trace -> Workload: the job list, the machine, the sequences
                 (``whole``, or RLScheduler's published ``rlscheduler`` protocol),
                 and the usage model (SWF field 6) that stealing acts on
    engine.py    Replay: one event at a time, one ``heaven.core.schedule`` call per
                 event, plans carried out on a virtual one-node cluster
    metrics.py   utilization, waits, bounded slowdown, makespan, stealing figures
    run.py       simulate(): the above, end to end (used by ``heaven sim``)
    plot.py      queue length and utilization over time (PNG)
    report.py    regenerates the tables and plots of docs/simulation.md

It imports the core and nothing else of the product: no store, no controller.
"""
