from rewrite.cli import main

if __name__ == "__main__":  # not when a worker process of `search --jobs` imports it
    raise SystemExit(main())
