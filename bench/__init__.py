"""The performance benchmark (`make bench`): the CRM contacts sync against the machine and a peer.

Not part of the product and never part of the test suite; see bench/README.md for how to read it.
"""
