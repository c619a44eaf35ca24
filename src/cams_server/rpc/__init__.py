"""The contract a handler sees: the operation catalog, the call context, the caller,
the access decision, and the table of operations each product registers.
"""
