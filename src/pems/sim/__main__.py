"""``python -m pems.sim --plan plaza …``: the simulator without Django."""

from pems.sim.cli import main

raise SystemExit(main())
