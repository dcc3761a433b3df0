"""The view of a model: layer calls as a networkx graph, layers by path, exports and diffs."""
