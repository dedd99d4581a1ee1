"""Real Dynovault processes on free ports, for tests and benchmarks.

Dynovault's own tests, its benchmarks and users' test suites drive a server the way
production clients do: over HTTP to a separate ``dynovault serve`` process, so a crash, a
restart or ``kill -9`` behave as they would in production. ``processes`` starts single
servers (and any other server command line); ``cluster`` starts a leader with its
followers. Both only start processes and speak HTTP to them, so this package imports
nothing else from Dynovault and can be used against an installed server.
"""
