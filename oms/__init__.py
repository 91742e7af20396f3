"""OMS: an order management system built as a modular monolith."""
