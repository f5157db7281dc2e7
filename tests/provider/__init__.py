"""The upstream: size rules, rate budget, errors and faults."""
