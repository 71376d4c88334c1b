from pixflow_monitor.launch import main

raise SystemExit(main())
