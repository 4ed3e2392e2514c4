"""``python -m kiln_runtime``: a workflow host process (started by a Kiln worker)."""
from .host import main

main()
