"""Write the service's OpenAPI document to a file, as /openapi.json serves it, without starting a server."""

import json
import sys
from pathlib import Path

from app.core.config import Settings
from app.main import create_app

# A fixed key keeps the settings check quiet; nothing is signed here.
settings = Settings(environment="test", secret_key="x" * 32)
Path(sys.argv[1]).write_text(json.dumps(create_app(settings).openapi(), indent=2) + "\n")
