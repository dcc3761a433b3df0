from rewrite.cli.main import main

if __name__ == "__main__":  # guarded: `search --jobs` workers import this module under spawn
    raise SystemExit(main())
