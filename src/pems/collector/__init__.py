"""The asyncio head-end: one worker per bus, commands before reads, batched storage.

Entry points: :class:`pems.collector.service.Collector` (used by ``pems collect``)
and :func:`pems.collector.plan.parse_shard`. See docs/collector.md.
"""
