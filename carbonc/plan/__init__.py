"""A plan as data, apart from the compiler that makes it: its record types (`records`), saved
plans written and read (`saved`) and checked before they are trusted (`verify`), the run's checks
judged over its metrics (`judge`), and a plan described (`describe`) or compared (`diff`).

Nothing here imports the compiler (`carbonc.compiler`), the syntax or the IR, so running a saved
plan never loads them; `tests/cli/test_startup.py` holds that.
"""
