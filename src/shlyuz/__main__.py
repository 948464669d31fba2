from shlyuz.cli import main

raise SystemExit(main())
