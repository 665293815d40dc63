"""Services: the seams between store, analysis and the interfaces (web, CLI, exports)."""
