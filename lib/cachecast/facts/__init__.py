"""Dated facts that change: models (lifecycle, cache minimums, rules), prices (genai-prices plus
dated corrections), the SDK request types and the offline tokenizer estimate. The bottom of the
import graph: it imports nothing of cachecast but `errors` and the base helpers."""
