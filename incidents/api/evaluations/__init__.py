"""The evaluation API, one module per aggregate: ``runs`` (evaluation runs, posted with counts, a
JSON array of per-sample results or a JSONL upload), ``samples`` (per-sample results as posted and
as read back), ``uploads`` (reading a JSONL upload as a stream), ``findings`` (hallucination
findings, one or a batch), ``limits`` (hallucination limits) and ``trends`` (a system's
hallucination rate over time, and the comparison of two model versions)."""
