"""Tests of the outbox's and live updates' building blocks: rendering, rate limits, the bus."""
