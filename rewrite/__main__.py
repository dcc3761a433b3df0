from rewrite.cli import main

raise SystemExit(main())
