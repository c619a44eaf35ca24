"""STS (2015-04-01) on the same endpoint: AssumeRole and GetCallerIdentity."""
