"""Performance of the service against the same upstream called directly: a benchmark to trust.

Every section starts the loopback OpenAI-compatible upstream (a fixed latency per image) and the
real server, each in its own process, drives the server over real sockets and, in the same run,
calls the same upstream directly with the openai SDK, so each figure is also a ratio. Every
figure is measured in several repetitions; the median is quoted with the min-max spread, its
conditions (image, upstream latency, concurrency, cores, event loop) and the target beside it.
Targets are goals, not assertions: the exit status is 0 whatever the figures.

Sections (--sections, comma-separated; the default runs latency,n4,saturation,rss):
  latency     added latency p50/p99 over the direct call, n=1, with --streams concurrent
              streams: gRPC, gRPC with include_data, and the HTTP/JSON surface; event-loop lag
  n4          time to the first and the last of 4 images, in multiples of one image's latency
  saturation  images/s and server CPU seconds per image when the server is the bottleneck
  rss         server memory with 100, 1,000 and 5,000 streams waiting on a slow upstream
              (opened as fast as the server accepts them, hung up on after the reading)
  ratelimit   an upstream limited to N images/min offered 3x that by three API keys:
              utilisation, upstream 429s, 429s reaching callers, fairness between the keys
  profile     where the server's time goes at saturation: cProfile (the event-loop thread),
              or --profiler py-spy (every thread; `pip install py-spy` first)
latency and saturation run once per event loop in --loops (uvloop and asyncio by default).

Usage: python -m bench.perf [--sections latency,n4] [--latency 5] [--repetitions 3] [--json]
A full default run takes about 10 minutes on the 2-core development machine.
"""
