"""Durable background jobs stored in the main database (ARCHITECTURE: request flow, step 4)."""

from roost.jobs.queue import JobHandler, enqueue, handler, registered

__all__ = ["JobHandler", "enqueue", "handler", "registered"]
