"""Benchmarks against a running Tessera server over HTTP: `load` (ingest and concurrent search) and
`console` (the web console's routes)."""
