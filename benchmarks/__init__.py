"""The benchmark (`make bench`, `python -m benchmarks [--quick]`): the machine's
ceilings, then OMS itself, driven over real HTTP.

It never imports OMS's modules or its app: it starts OMS with the `oms` command, with
the integration tests' process harness (`tests.integration.processes`: free ports, the
environment, readiness, a clean stop), seeds it with their HTTP client
(`tests.integration.ops.Client`), drives it with its own load generator, and reads only
what an operator could read besides (PostgreSQL, RabbitMQ, /proc). From OMS it borrows
only names: the schemas, and the exchanges as the bus declares them.

    load.py       the load generator: processes x threads, closed or open loop
    progress.py   the live line of a running phase: rate, failures, elapsed time
    clients.py    what one thread of the load generator does against OMS (HTTP)
    ceilings.py   PostgreSQL commits, RabbitMQ publish/consume: the same generator
    server.py     which OMS process is which, and their memory high-water marks
    api.py        seeding customers and products, the end-of-run audit
    calibrate.py  what one checkout costs in write transactions and messages
    stats.py      percentiles, rates and per-second timelines from the samples
    report.py     the table, the targets and the JSON file
    chart.py      the picture: checkouts/s and latency over time, per mode (SVG)
    options.py    the command line, and what --quick shortens
    run.py        the order of things, and cleaning up after them
"""
