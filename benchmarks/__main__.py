"""``python -m benchmarks`` (``make bench``): see `benchmarks` for how to read the output."""

from __future__ import annotations

from .run import main

if __name__ == "__main__":
    main()
