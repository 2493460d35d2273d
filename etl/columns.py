"""Names of the columns the product itself adds to rows, shared by transform, quality and load.

They live here, not in the module that first produces them, so a writer (`etl.load.merge`) and a reader
(`etl.quality.quarantine`) agree on the names without one importing the other's machinery.
"""

from __future__ import annotations

ERRORS = "_errors"  # reasons a row cannot be loaded as typed (goes to quarantine)
SRC_ROW = "_src_row"  # position of the row in its raw batch, to quarantine the original record
ROW_HASH = "_row_hash"  # content hash: tells an update from an unchanged re-read
EXTRAS = "extras"  # unmapped source fields as one JSON object
FILE_COLUMN = "_file"  # raw column a file source adds to every row: the name of the file it came from
CURSOR_RANK = "_cursor_rank"  # a valid row's incremental cursor as a number: the newest version of a key wins
INTERNAL = (ERRORS, SRC_ROW)  # travel between transform and validate, never reach the warehouse
