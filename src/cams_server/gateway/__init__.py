"""The wire: parsing, signatures, flow control, nonces and encoding of every call."""
