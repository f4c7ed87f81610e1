"""Functions used by tests (allow-listed for the python_function executor in test settings)."""


def add(a, b):
    return {"sum": a + b}
