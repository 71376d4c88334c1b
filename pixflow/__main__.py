from pixflow.cli.main import main

raise SystemExit(main())
