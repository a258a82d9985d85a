from mvla_tui.cli import main

raise SystemExit(main())
