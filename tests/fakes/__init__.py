"""Local fakes of the external services, speaking their real wire protocols (style.md §7.11)."""
