"""Rule text, never Keras: the AST, the parser and its errors, expressions, static checks, the catalogue, parameter spaces, the loader."""
