"""DriveSync's aiohttp server: app factory, routes, middlewares, config and CLI."""
