"""RAM: principals, the policy grammar and its evaluation, and denial diagnostics."""
