"""The interfaces of the registry: the FastAPI app (routers, dependencies, problem+json) and the
``xinyong`` command line."""
