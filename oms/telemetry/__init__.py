"""What OMS tells its operators: log lines, metrics and trace context.

The lowest layer: every other package may use it, it uses none of them.
"""
