"""Scans that find due reviews and expiring evidence and write their notifications to the outbox."""
