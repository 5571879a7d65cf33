"""A fixed arrival rate from a separate process: RATE requests/s for SECONDS, bounded.

Usage: steady.py URL RATE SECONDS, with {"body", "cookie", "referer"} as JSON on stdin;
"{n}" in the body becomes a unique value. Prints client-side latencies as JSON.
"""

import http.client
import json
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor


def main() -> None:
    url, rate, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    config = json.load(sys.stdin)
    target = urllib.parse.urlsplit(url)
    local = threading.local()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def send(n: int) -> None:
        body = config["body"].replace("{n}", str(n))
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "Cookie": config["cookie"], "Referer": config["referer"]}
        started = time.perf_counter()
        try:
            if getattr(local, "conn", None) is None:
                local.conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            local.conn.request("POST", target.path, body=body, headers=headers)
            response = local.conn.getresponse()
            response.read()
            ok = response.status < 400
        except (OSError, http.client.HTTPException) as exc:
            local.conn = None
            ok, status = False, type(exc).__name__
        else:
            status = str(response.status)
        elapsed = time.perf_counter() - started
        with lock:
            (latencies if ok else errors).append(elapsed if ok else status)

    total = rate * seconds
    begin = time.perf_counter()
    with ThreadPoolExecutor(max_workers=min(64, rate)) as pool:
        for n in range(total):
            due = begin + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, n)
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, round(p / 100 * (len(latencies) - 1)))] * 1000

    print(json.dumps({"offered": total, "sent": len(latencies), "errors": len(errors),
                      "error_kinds": sorted(set(errors))[:10], "p50_ms": pct(50),
                      "p95_ms": pct(95), "p99_ms": pct(99),
                      "elapsed_s": time.perf_counter() - begin}))


if __name__ == "__main__":
    main()
