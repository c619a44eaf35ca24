"""Plain data every layer reads: the declared world and the message outcomes.

No behaviour beyond arithmetic on its own fields; imports nothing else of cams_server.
"""
