"""The wire vocabulary: errors, the parsed request, signatures and answer encoding.

The bottom layer: it imports nothing else of cams_server, so every other part may use it.
"""
