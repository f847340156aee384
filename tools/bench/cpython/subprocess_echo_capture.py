#!/usr/bin/env python3
"""tools/bench's name for subprocess_echo.py (figure key subprocess_echo_capture)."""
import os
import runpy

runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "subprocess_echo.py"), run_name="__main__")
