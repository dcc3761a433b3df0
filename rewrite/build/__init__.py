"""The plan made real: the clone pass, weights, Net2WiderNet weights, in-place edits."""
