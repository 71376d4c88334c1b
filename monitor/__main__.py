from monitor.app import main

raise SystemExit(main())
