"""`textual serve screens/serve.py`: the app in a browser (data dir from $RUNBOOK_HOME)."""

from __future__ import annotations

import os

from runbook.screens.app import create_app

app = create_app(inventory_path=os.environ.get("RUNBOOK_INVENTORY") or None)

if __name__ == "__main__":
    app.run()
