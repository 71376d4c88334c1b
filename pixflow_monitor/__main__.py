from pixflow_monitor.app import main

raise SystemExit(main())
