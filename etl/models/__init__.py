"""The warehouse's core (conformed dimensions and facts) and mart layers, as plain SQL files.

`sql/<layer>/<name>.sql` holds one SELECT per model under a YAML comment header (description, grain,
columns); `build` runs them in dependency order as `CREATE TABLE <name> AS ...`, and `docs` renders
the headers into docs/warehouse.md for analysts.
"""
