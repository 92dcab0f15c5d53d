"""Streamlit code shared by the pages (widgets, caches, texts). Logic lives in :mod:`lmkviz`.

Importing this package first (every page does) makes OpenMP threads sleep instead of
spin while they wait, before torch is loaded. The app shares the CPU with background
training jobs; with spinning threads one prediction on 2 cores took seconds instead
of about 0.1 s while a job ran (``bench/inference.py``). An explicit
``OMP_WAIT_POLICY`` in the environment is left alone.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
