#!/usr/bin/env python3
"""tools/bench's name for subprocess_true.py (figure key subprocess_run_true)."""
import os
import runpy

runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "subprocess_true.py"), run_name="__main__")
