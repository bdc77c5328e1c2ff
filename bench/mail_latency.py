#!/usr/bin/env python3
"""Signup-to-mailbox latency; the parts of bench/mail_latency.sh (see bench/README.md).

  sink    SMTP sink (aiosmtpd) on 127.0.0.1:PORT; appends one line per message
          and recipient to --arrivals ("epoch<TAB>address<TAB>subject");
          runs until SIGTERM/SIGINT.
  signup  sends --count POST /auth/signup (--concurrency at a time, optionally
          paced to --rate requests/s), writes --sent ("address<TAB>sent<TAB>
          answered<TAB>status<TAB>body"), then waits until every address that
          got 201 has a line in --arrivals, or --wait seconds.
  report  joins --sent, --arrivals and (with --db-url, via psql) the outbox
          rows, writes a per-address CSV and prints markdown. Mails that
          arrive after --restart-at (epoch) are counted separately.

Times are time.time() of these processes (request sent, mail received) and
the server's clock (outbox created_at / relayed_at): one machine, one clock.
"""

import argparse
import csv
import http.client
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes

PASSWORD = "bench-mail-password-1234"


# ---------------------------------------------------------------- sink
def cmd_sink(args):
    from aiosmtpd.controller import Controller

    out = open(args.arrivals, "a", buffering=1, encoding="utf-8")
    lock = threading.Lock()

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            now = time.time()
            msg = message_from_bytes(envelope.original_content or envelope.content)
            subject = (msg.get("Subject") or "").replace("\t", " ").replace("\n", " ")
            with lock:
                for rcpt in envelope.rcpt_tos:
                    out.write(f"{now:.6f}\t{rcpt.lower()}\t{subject}\n")
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=args.port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("sink ready", flush=True)
    stop.wait()
    controller.stop()
    out.close()
    return 0


def read_arrivals(path):
    arrivals = {}
    subjects = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 3:
                    continue
                arrivals.setdefault(parts[1], []).append(float(parts[0]))
                subjects[parts[2]] = subjects.get(parts[2], 0) + 1
    return arrivals, subjects


# ---------------------------------------------------------------- signup
def cmd_signup(args):
    host_port = args.base.split("://", 1)[1].rstrip("/")
    host, port = host_port.rsplit(":", 1)
    addresses = [f"{args.prefix}{i:04d}@mail.bench.example.com" for i in range(1, args.count + 1)]
    sent = {}
    local = threading.local()
    start = time.time()

    def signup(i_addr):
        i, addr = i_addr
        if args.rate > 0:
            delay = start + i / args.rate - time.time()
            if delay > 0:
                time.sleep(delay)
        body = json.dumps({"email": addr, "password": PASSWORD, "first_name": "Mail"})
        for attempt in (1, 2):  # a keep-alive connection the server closed: reconnect once
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(host, int(port), timeout=30)
            t0 = time.time()
            try:
                conn.request("POST", "/auth/signup", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                sent[addr] = (t0, time.time(), resp.status, data[:200].decode("utf-8", "replace"))
                return
            except (http.client.HTTPException, OSError) as e:
                conn.close()
                local.conn = None
                if attempt == 2:
                    sent[addr] = (t0, time.time(), 0, repr(e))

    with ThreadPoolExecutor(max_workers=max(1, args.concurrency)) as pool:
        list(pool.map(signup, enumerate(addresses)))
    done = time.time()
    with open(args.sent, "w", encoding="utf-8") as f:
        for a in addresses:
            t0, t1, status, body = sent[a]
            body = body.replace("\t", " ").replace("\n", " ")
            f.write(f"{a}\t{t0:.6f}\t{t1:.6f}\t{status}\t{body}\n")

    ok = [a for a in addresses if sent[a][2] == 201]
    deadline = done + args.wait
    while True:
        got, _ = read_arrivals(args.arrivals)
        missing = sum(1 for a in ok if a not in got)
        if missing == 0 or time.time() >= deadline:
            break
        time.sleep(0.05)
    print(f"{len(addresses)} sign-ups in {done - start:.2f} s, {len(ok)} answered 201; "
          f"{missing} mails missing {time.time() - done:.2f} s after the last one", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- report
def percentile(sorted_values, p):
    """Nearest-rank percentile (p99 of 200 samples is the 198th smallest)."""
    if not sorted_values:
        return float("nan")
    return sorted_values[max(1, math.ceil(p / 100 * len(sorted_values))) - 1]


def row(label, values):
    v = sorted(values)
    if not v:
        return f"| {label} | 0 | | | | | | |"
    return (f"| {label} | {len(v)} | {v[0]:.0f} | {percentile(v, 50):.0f} | {percentile(v, 90):.0f} | "
            f"{percentile(v, 99):.0f} | {v[-1]:.0f} | {statistics.fmean(v):.0f} |")


def cmd_report(args):
    sent = {}
    order = []
    with open(args.sent, encoding="utf-8") as f:
        for line in f:
            a, t0, t1, status, body = line.rstrip("\n").split("\t", 4)
            sent[a] = (float(t0), float(t1), int(status), body)
            order.append(a)
    got, subjects = read_arrivals(args.arrivals)
    restart = args.restart_at or float("inf")

    outbox, outbox_dupes = {}, 0
    if args.db_url:
        query = ("select job::json->>'to', extract(epoch from created_at), extract(epoch from relayed_at), "
                 "attempts, parked_at is not null from outbox")
        rows = subprocess.run(["psql", args.db_url, "-AtqX", "-F", "\t", "-c", query],
                              check=True, capture_output=True, text=True).stdout
        for line in rows.splitlines():
            to, created, relayed, attempts, parked = line.split("\t")
            outbox_dupes += to in outbox
            outbox[to] = (float(created), float(relayed) if relayed else None, int(attempts), parked == "t")

    with open(args.csv, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["email", "sent", "answered", "status", "outbox_created", "outbox_relayed", "mails",
                    "first_mail", "latency_ms"])
        for a in order:
            t0, t1, status, _ = sent[a]
            arr = sorted(got.get(a, []))
            ob = outbox.get(a, (None, None, None, None))
            w.writerow([a, f"{t0:.6f}", f"{t1:.6f}", status, ob[0], ob[1], len(arr),
                        f"{arr[0]:.6f}" if arr else "", f"{(arr[0] - t0) * 1000:.1f}" if arr else ""])

    ok = [a for a in order if sent[a][2] == 201]
    failed = [a for a in order if sent[a][2] != 201]
    missing = [a for a in ok if a not in got]
    dup_before = sum(max(0, sum(1 for t in got.get(a, []) if t < restart) - 1) for a in ok)
    after_restart = sum(1 for a in ok for t in got.get(a, []) if t >= restart)
    unexpected = {a: len(v) for a, v in got.items() if a not in sent}
    latency = [(min(got[a]) - sent[a][0]) * 1000 for a in ok if a in got]
    http_ms = [(sent[a][1] - sent[a][0]) * 1000 for a in ok]

    start = min(sent[a][0] for a in order)
    last_sent = max(sent[a][1] for a in order)
    last_mail = max((min(got[a]) for a in ok if a in got), default=start)
    mode = f"concurrency {args.concurrency}" + (f", paced to {args.rate:g}/s" if args.rate > 0 else ", unpaced")
    print(f"Sign-ups: {len(order)} with {mode}, in {last_sent - start:.2f} s "
          f"({len(order) / (last_sent - start):.1f}/s); {len(ok)} answered 201. The last first-mail arrived "
          f"{last_mail - start:.2f} s after the first request ({last_mail - last_sent:.2f} s after the last answer).")
    print()
    print("| Time (ms) | n | min | p50 | p90 | p99 | max | mean |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(row("**sign-up request sent → mail at the sink**", latency))
    print(row("sign-up HTTP round trip (201)", http_ms))
    if outbox:
        pairs = [(a, outbox[a]) for a in ok if a in outbox and a in got and outbox[a][1] is not None]
        print(row("request sent → outbox row stamped (`created_at`, after Argon2)",
                  [(ob[0] - sent[a][0]) * 1000 for a, ob in pairs]))
        print(row("outbox `created_at` → pushed to Redis (`relayed_at`)",
                  [(ob[1] - ob[0]) * 1000 for a, ob in pairs]))
        print(row("pushed to Redis → mail at the sink", [(min(got[a]) - ob[1]) * 1000 for a, ob in pairs]))
    print()
    print(f"- mails: {sum(len(v) for v in got.values())} received; of the {len(ok)} signed-up addresses "
          f"{sum(1 for a in ok if a in got)} got theirs, **missing: {len(missing)}**, "
          f"**duplicates before the worker restart: {dup_before}**"
          + (f", **mails received after the restart: {after_restart}**" if args.restart_at else "")
          + f"; unexpected recipients: {len(unexpected)}; subjects: {subjects}")
    print(f"- sign-ups not answered 201: {len(failed)}" + (f" (first: {failed[0]} → {sent[failed[0]][2]} "
                                                           f"{sent[failed[0]][3]})" if failed else ""))
    if args.db_url:
        not_relayed = sum(1 for a in ok if a in outbox and outbox[a][1] is None)
        retried = sum(1 for a in ok if a in outbox and outbox[a][2] > 0)
        parked = sum(1 for a in ok if a in outbox and outbox[a][3])
        print(f"- outbox: {len(outbox) + outbox_dupes} rows; not relayed: {not_relayed}; relayed after a failed "
              f"attempt: {retried}; parked: {parked}; sign-ups without a row: {sum(1 for a in ok if a not in outbox)}; "
              f"extra rows for one address: {outbox_dupes}")
    if missing:
        print(f"- missing (first 10): {missing[:10]}")
    if unexpected:
        print(f"- unexpected (first 10): {dict(list(unexpected.items())[:10])}")
    bad = missing or failed or dup_before or after_restart or unexpected
    return 3 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sink")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--arrivals", required=True)
    s = sub.add_parser("signup")
    s.add_argument("--base", required=True, help="coffee-api base URL, e.g. http://127.0.0.1:18091")
    s.add_argument("--count", type=int, default=200)
    s.add_argument("--concurrency", type=int, default=1)
    s.add_argument("--rate", type=float, default=0, help="requests/s over all connections (0: unpaced)")
    s.add_argument("--prefix", default="mail", help="local part prefix of the addresses")
    s.add_argument("--wait", type=float, default=60, help="seconds to wait for missing mails")
    s.add_argument("--sent", required=True)
    s.add_argument("--arrivals", required=True)
    s = sub.add_parser("report")
    s.add_argument("--sent", required=True)
    s.add_argument("--arrivals", required=True)
    s.add_argument("--db-url", help="PostgreSQL URL of coffee-api's database, for the outbox breakdown")
    s.add_argument("--restart-at", type=float, help="epoch of the worker restart")
    s.add_argument("--concurrency", type=int, default=1, help="(for the description only)")
    s.add_argument("--rate", type=float, default=0, help="(for the description only)")
    s.add_argument("--csv", required=True)
    args = ap.parse_args()
    return {"sink": cmd_sink, "signup": cmd_signup, "report": cmd_report}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
