"""Reading and writing rows, always scoped to their owner. Routers call these."""
