"""The HTTP server: webhooks, the web chat page and its API, and the health check."""
