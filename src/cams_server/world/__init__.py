"""The world: who exists and what they may do, as declared in a TOML world file."""
