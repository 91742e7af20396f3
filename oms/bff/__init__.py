"""The backends-for-frontend: web (port 3010) and mobile (port 3011).

They compose the modules' public APIs in-process and never reach inside a module.
"""
