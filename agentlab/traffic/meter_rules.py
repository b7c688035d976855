"""agentlab's meter, counted by HAProxy itself: per response, HAProxy's own rules add one to
a status class and one to a latency bucket of a stick-table entry per backend and version,
and the latency to a sum. No Lua runs per request (a Lua call per response was most of
what the traffic layer added to the p99, benchmarks/bench_proxy.py); the Lua meter only
reads the table when /metrics/versions is asked for.

The entry's key is `<backend>/<version>/<thread>` (the version: the server's name after
its last "--"; agentlab names servers `<replica>--<version>`); its `gpc` array holds the
status classes (1xx..5xx), then one count per latency bucket (not cumulative: one rule
adds to one bucket), then the count above the last bound; its `gpt` array holds the
latency sum, in microseconds below a second (gpt0) and whole seconds (gpt1), since each is
32 bits. HAProxy 2.6 can only add one to a counter: the sum is read, added to and written
back, which is exact only while no other thread writes the same entry, hence one per
thread (a stream stays on its thread; rules do not yield).

What bounds the table: entries are counters that only grow, so they never expire (an
expiry would drop an idle version's counts). One entry per backend (two per proxied
port), version served since the proxy started, and thread: the configuration sets the
threads (`nbthread`, at most MAX_THREADS) and sizes the table for VERSIONS versions per
backend. Replicas come and go without new entries. A full table would lose counts (HAProxy
then evicts or stops counting), so the meter refuses to answer once it is full (HTTP 503:
a failed scrape, never counts that went backwards); a new traffic layer starts it afresh."""

from __future__ import annotations

TABLE = "agentlab_meter"
CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)  # seconds
FIRST_BUCKET = len(CLASSES)  # the gpc index of the first latency bucket
COUNTERS = FIRST_BUCKET + len(BUCKETS) + 1  # the last: above BUCKETS[-1]
VERSIONS = 5_000  # versions each backend can serve in the proxy's life (table size)
MAX_THREADS = 4  # the proxy's threads: one per core up to this (8,653 req/s on 2)
KEY_LENGTH = 256  # backend, version tag (up to 128 characters) and thread fit
MICROS = "txn.agentlab_us"


def counting_rules() -> list[str]:
    """The frontend's rules: stamp each request, count each server's response."""
    rules = [
        "    http-request set-var(txn.agentlab_t0) date(0,us)",
        f"    http-response set-var({MICROS}) date(0,us),sub(txn.agentlab_t0)",
        f"    http-response set-var({MICROS}) int(0) if {{ var({MICROS}) -m int lt 0 }}",  # clock
        '    http-response set-var-fmt(txn.agentlab_key) "%b/%[srv_name,regsub(^.*--,)]/%[thread]"',
        f"    http-response track-sc0 var(txn.agentlab_key) table {TABLE}",
    ]
    for index, name in enumerate(CLASSES):
        low = int(name[0]) * 100
        rules.append(f"    http-response sc-inc-gpc({index},0) if {{ status {low}:{low + 99} }}")
    low = 0
    for index, bound in enumerate(_bounds_us(), start=FIRST_BUCKET):
        within = f"{{ var({MICROS}) -m int {low}:{bound} }}"
        rules.append(f"    http-response sc-inc-gpc({index},0) if {within}")
        low = bound + 1
    rules += [
        f"    http-response sc-inc-gpc({COUNTERS - 1},0) if {{ var({MICROS}) -m int ge {low} }}",
        # the sum: gpt0 += microseconds, what reaches a second carried to gpt1
        f"    http-response set-var(txn.agentlab_acc) sc_get_gpt(0,0),add({MICROS})",
        "    http-response set-var(txn.agentlab_carry) var(txn.agentlab_acc),div(1000000)",
        "    http-response sc-set-gpt(1,0) sc_get_gpt(1,0),add(txn.agentlab_carry)",
        "    http-response sc-set-gpt(0,0) var(txn.agentlab_acc),mod(1000000)",
    ]
    return rules


def threads(cores: int) -> int:
    """The proxy's threads on a machine with `cores` (HAProxy's own default, capped)."""
    return max(1, min(cores, MAX_THREADS))


def table(backends: int, thread_count: int) -> list[str]:
    """The stick table the rules count in: an entry per backend, version (VERSIONS of
    each) and thread; entries never expire (counters only grow)."""
    size = backends * VERSIONS * thread_count
    return [
        f"backend {TABLE}",
        f"    stick-table type string len {KEY_LENGTH} size {size} store gpt(2),gpc({COUNTERS})",
    ]


def environment(runtime_port: int) -> list[str]:
    """`global` lines that tell the Lua meter where the table is and how it is laid out."""
    bounds = ",".join(f"{bound:g}" for bound in BUCKETS)
    return [
        f"    setenv AGENTLAB_METER_TABLE {TABLE}",
        f"    setenv AGENTLAB_METER_CLASSES {','.join(CLASSES)}",
        f"    setenv AGENTLAB_METER_BUCKETS {bounds}",
        f"    setenv AGENTLAB_RUNTIME_PORT {runtime_port}",
    ]


def _bounds_us() -> list[int]:
    return [round(bound * 1_000_000) for bound in BUCKETS]
