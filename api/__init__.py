"""Entry points: the FastAPI app, the web console and the ``dockpatrol`` command line."""
