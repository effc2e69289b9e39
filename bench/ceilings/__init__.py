"""The ceilings optledger's workloads are measured against (issue 9, docs/decisions/0022).

Each is the least code that does the same durable work as the workload: validate the
request, write the rows, commit, answer. `bench.run` measures each next to optledger in the
same run, on the same uvicorn settings (`bench.ceilings.serve`).
"""
