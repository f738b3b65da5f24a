"""judgecraft."""
