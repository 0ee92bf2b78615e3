"""The step types, one module each; `laporbot.flows.loader` imports them all to register them."""
