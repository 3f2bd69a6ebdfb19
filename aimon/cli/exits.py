"""The ``aimon`` command's exit statuses.

0 all is well; 1 drift or a failed data-quality check found (``aimon drift``, ``aimon check``);
2 bad input (an unreadable or header-only file, a reference column missing from the current
data, a bad option), with a message naming the file, column or option at fault.
"""

EXIT_OK, EXIT_DRIFT, EXIT_BAD_INPUT = 0, 1, 2
