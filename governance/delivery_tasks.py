"""Delivery of outbox rows: one row, the due sweep, and the daily digests."""
