"""pytest-wtb benchmarks: run on demand, never collected by pytest (every test project is generated into a temp dir).

    python -m benchmarks                     # every family, one after the other
    python -m benchmarks.threads             # issue 2: the threads backend against hand-written loops
    python -m benchmarks.ray_backend         # issue 3: Ray against threads
    python -m benchmarks.postgres            # issue 4: the PostgreSQL store against SQLite
    python -m benchmarks.prefix              # issue 5: prefix sharing on and off

Every family takes ``--reps N --json PATH --quick --scale X --keep --bytecode-cache``; ``common/`` holds what
they share (generated projects, running a command, the store's timeline, medians, the table, machine facts).
"""
