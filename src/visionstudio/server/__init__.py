"""The visionstudio server: service (handlers) -> prep -> provider -> store."""
