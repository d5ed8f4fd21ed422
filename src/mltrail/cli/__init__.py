"""The ``mltrail`` command line."""
