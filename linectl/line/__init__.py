"""The line: the pack pipeline as stages with explicit seams, recovery, the LineControl contract."""
