"""`make bench`: the gateway end to end beside the backend alone and two in-process baselines.

Cells = server {gateway (a), backend alone (b), in-process SavedModel (c), tutorial (d)}
× concurrency × instances per request × model. Each cell: a warm-up, then a fixed
duration of closed-loop load; HTTP cells are driven by `wrk` with `bench/body.lua`, the
backend cell by `bench.grpc_load` (our TFServingClient in several processes), measured
the same way. Results: `bench/results.json`, `bench/results.md`, `bench/results.png`.
"""
