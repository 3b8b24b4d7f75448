"""The monitor's routers: login, HTML pages, JSON API and WebSockets (mounted by `monitor.web.mount`)."""
