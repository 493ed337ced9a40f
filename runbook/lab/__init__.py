"""Simulated devices over real SSH, for rehearsal, the demo and the tests."""
