"""Offline testing tools: fake servers for both protocols, synthetic voice, faults."""
