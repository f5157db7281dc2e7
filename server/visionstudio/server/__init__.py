"""The visionstudio server: api (gRPC, HTTP) -> jobs -> prep -> provider -> store."""
