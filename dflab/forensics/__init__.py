"""Evidence readers for the lab notebooks: disks (TSK), packet captures (scapy), memory (volatility3).

Each submodule is usable on its own from a notebook::

    from dflab.forensics import disk, pcap, memory, hashing
"""
