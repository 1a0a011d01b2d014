"""How a test's child process measures its own peak memory.

``PEAK_RSS`` is source text for a child script: it defines ``peak_rss()``, the
process's own peak resident memory in bytes, read from ``VmHWM`` in
``/proc/self/status``. Not getrusage's ``ru_maxrss``: Linux carries that across
exec, so a child started by a large pytest process would report the parent's
peak as its own.
"""

PEAK_RSS = """
def peak_rss():
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024
"""
