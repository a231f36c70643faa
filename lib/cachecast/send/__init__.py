"""Send: the SDK client, batch submit/poll/fetch, the probe, and the simulator that stands in
for the Batch API offline (demo data, what-if hit rates)."""
