"""Pictures of a rewrite: scene, layout, style, Graphviz and matplotlib."""
