"""One router per domain; :mod:`api.app` assembles them."""
