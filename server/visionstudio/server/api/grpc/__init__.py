"""The gRPC surface: server builder, servicer, proto mapping, the one interceptor."""
