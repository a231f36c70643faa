"""Build: a run config becomes Message Batches request shards, a manifest and a preview
(build.json, requests-*.jsonl, manifest.jsonl, preview.md), and lint checks them before any
money is spent."""
