"""The product: the operation catalog and what each operation does."""
