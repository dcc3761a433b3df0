"""Reports as frozen data (data.py, a leaf of every stage) and their renderings: outline, text, HTML, DOT, diffs."""
