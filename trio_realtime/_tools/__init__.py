"""The parts of `trio_realtime.tools`, one concern per module.

``docstrings`` reads descriptions out of Google-style docstrings, ``schema``
turns type hints into JSON Schema, ``arguments`` structures the model's JSON
arguments into those types, ``payloads`` turns results back into JSON and
``providers`` writes each provider's declaration format. All pure: no Trio.
"""
