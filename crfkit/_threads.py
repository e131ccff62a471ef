"""One thread policy for BLAS, OpenMP and torch.

Why: thread pools that synchronise per operation (OpenBLAS, OpenMP, torch's
intra-op pool) collapse when one of their threads is descheduled.  With
another process busy on one of two cores, ``crfkit restore`` on a 6 MP photo
took 127 s with two torch threads and 9 s with one.  So the default thread
count is the number of *idle* cores this process may use, measured when the
work starts, never more than the cores in its affinity mask.

The policy is applied with threadpoolctl (which works after the libraries are
loaded, unlike environment variables) and with ``torch.set_num_threads`` when
torch is or becomes loaded inside the policy.  Every command applies it;
the Python entry points that parallelise (``restore``, ``estimate``,
``table``, dataset builds, bracket calibration and merging) apply it too.
``CRFKIT_THREADS`` or an explicit ``threads=`` overrides the measurement.

The batched fits are many small matrix products; there a multi-threaded BLAS
spends more time synchronising than computing (the DoRF table runs about 1.8x
faster on 2 cores with one BLAS thread), so those hot paths run with one BLAS
thread whatever the policy says (:func:`single_threaded_blas`).
"""

import contextlib
import os
import sys
import threading
import time

from .errors import ValidationError

ENV_VAR = "CRFKIT_THREADS"
_SAMPLE_SECONDS = 0.1  # 10 ms clock ticks: 10 per core, fine enough to tell a busy core
_CACHE_SECONDS = 5.0

_state = threading.local()
_cache = {"time": -1e9, "value": None}
_controller = {"key": None, "value": None}


def _thread_controller():
    """A cached threadpoolctl controller, or None without threadpoolctl.

    Building one scans every loaded shared library (1-20 ms, depending on what is
    loaded), too slow for the batched fits' per-call guard; it is rebuilt only when
    new modules (and so possibly new native libraries) have been imported.
    """
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # threadpoolctl comes with scikit-learn; without it, run as is
        return None
    key = len(sys.modules)
    if _controller["key"] != key:
        _controller.update(key=key, value=ThreadpoolController())
    return _controller["value"]


def usable_cores():
    """Number of cores this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _cpu_times(cpus):
    """(busy, total) jiffies summed over ``cpus`` from /proc/stat, or None where unavailable."""
    try:
        with open("/proc/stat") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    busy = total = 0
    for line in lines:
        if not line.startswith("cpu") or line.startswith("cpu "):
            continue
        name, *fields = line.split()
        try:
            index = int(name[3:])
        except ValueError:
            continue
        if cpus is not None and index not in cpus:
            continue
        # user nice system idle iowait irq softirq; steal (time the hypervisor gave to other
        # machines) is left out: it is no process competing for this machine's cores
        values = [int(v) for v in fields[:7]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        total += sum(values)
        busy += sum(values) - idle
    return (busy, total) if total else None


def idle_cores(sample_seconds=_SAMPLE_SECONDS):
    """Estimate how many of this process's cores are idle now (a float), or None if unknown.

    Samples /proc/stat twice, ``sample_seconds`` apart, while this thread sleeps,
    so the caller's own work does not count as load.
    """
    try:
        cpus = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = None
    first = _cpu_times(cpus)
    if first is None:
        return None
    time.sleep(sample_seconds)
    second = _cpu_times(cpus)
    if second is None or second[1] <= first[1]:
        return None
    n = len(cpus) if cpus else usable_cores()
    busy_fraction = (second[0] - first[0]) / (second[1] - first[1])
    return max(0.0, n * (1.0 - busy_fraction))


def _parse_threads(value, source):
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{source}={value!r}: expected a positive whole number of threads") from None
    if isinstance(value, bool) or isinstance(value, float) and value != n or n < 1:
        raise ValidationError(f"{source}={value!r}: expected a positive whole number of threads")
    limit = 4 * usable_cores()  # more only oversubscribes (and 10**4 threads would stall the machine)
    if n > limit:
        raise ValidationError(f"{source}={value!r}: at most {limit} threads (4 x the {usable_cores()} usable cores)")
    return n


def default_threads():
    """Threads to use now: ``CRFKIT_THREADS`` if set, else the idle cores (at least 1).

    The measurement is cached for a few seconds so that loops of small calls
    do not pay for it each time.
    """
    env = os.environ.get(ENV_VAR)
    if env not in (None, ""):
        return _parse_threads(env, ENV_VAR)
    now = time.monotonic()
    if now - _cache["time"] < _CACHE_SECONDS and _cache["value"] is not None:
        return _cache["value"]
    cores = usable_cores()
    idle = idle_cores()
    # A core counts as taken only when another process keeps it at least 75 % busy: short
    # bursts and measurement noise must not halve the threads of an otherwise idle machine.
    n = cores if idle is None else int(min(cores, max(1, cores - int(cores - idle + 0.25))))
    _cache.update(time=now, value=n)
    return n


def active_threads():
    """The thread count of the innermost active policy, or None outside any policy."""
    stack = getattr(_state, "stack", None)
    return stack[-1] if stack else None


def configure_torch(torch_module):
    """Apply the active policy to torch (called when torch is imported inside a policy)."""
    n = active_threads()
    if n is not None and torch_module.get_num_threads() != n:
        torch_module.set_num_threads(n)


@contextlib.contextmanager
def thread_policy(threads=None):
    """Run a block with one thread count for BLAS, OpenMP and torch.

    Parameters
    ----------
    threads : int, optional
        Threads to use; default :func:`default_threads` (``CRFKIT_THREADS``, or
        the idle cores this process may use).  Nested policies keep the outer
        count unless ``threads`` is given.

    Yields
    ------
    int
        The thread count in force.
    """
    if threads is not None:
        n = _parse_threads(threads, "threads")
    else:
        n = active_threads() or default_threads()
    stack = getattr(_state, "stack", None)
    if stack is None:
        stack = _state.stack = []
    torch = sys.modules.get("torch")
    old_torch = torch.get_num_threads() if torch is not None else None
    stack.append(n)
    try:
        controller = _thread_controller()  # without threadpoolctl only torch is limited
        with controller.limit(limits=n) if controller is not None else contextlib.nullcontext():
            if torch is not None:
                torch.set_num_threads(n)
            yield n
    finally:
        stack.pop()
        torch = sys.modules.get("torch")
        if torch is not None:
            # restore what the caller had (or, for torch loaded inside, the outer policy or the default)
            previous = old_torch if old_torch is not None else (active_threads() or usable_cores())
            if torch.get_num_threads() != previous:
                torch.set_num_threads(previous)


@contextlib.contextmanager
def single_threaded_blas():
    """Run a block with one BLAS thread (the batched fits' hot paths)."""
    controller = _thread_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield
