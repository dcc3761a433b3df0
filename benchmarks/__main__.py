import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks import main  # noqa: E402

raise SystemExit(main())
