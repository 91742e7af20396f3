"""`oms bench`: ceilings of the machine, then OMS itself, driven over real HTTP.

The benchmark never imports OMS's modules or its app: it starts OMS with the `oms`
command (as an operator would), seeds it and drives it over HTTP, and reads only
what an operator could read besides (PostgreSQL, RabbitMQ, /proc).

    load.py       the load generator: processes x threads, closed or open loop
    clients.py    what one thread of the load generator does against OMS (HTTP)
    ceilings.py   PostgreSQL commits, RabbitMQ publish/consume: the same generator
    server.py     OMS as real processes: scratch database, ports, memory high-water marks
    api.py        a small JSON client: seeding customers and products, end-of-run checks
    calibrate.py  what one checkout costs in write transactions and messages
    stats.py      percentiles and rates from the generator's samples
    report.py     the table, the targets and the JSON file
    run.py        the order of things, and cleaning up after them
"""
