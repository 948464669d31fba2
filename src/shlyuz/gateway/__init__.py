"""The aiohttp gateway: HTTP edges around the sans-IO protocol code."""
