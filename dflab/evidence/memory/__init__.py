"""Memory evidence: a Linux RAM image (raw and/or LiME) that stock volatility3 analyses.

The image models one x86-64 Linux 5.15-style kernel; its symbol table (ISF)
is generated alongside, so no real kernel or download is involved.
"""

from dflab.evidence.memory.writer import write_memory

__all__ = ["write_memory"]
