#!/usr/bin/env python3
"""Reads a server's and its load client's io_trace.so records (trace.sh)
and splits each round trip's latency into where it waited:
  A  client's send -> server's read    (in the server: its ready list, its batch)
  B  server's read -> server's send    (the server's own order within a batch)
  C  server's send -> client's read    (in the client: its ready list, its batch)
The k-th read with data on a server socket is the k-th request of the
client socket with the same rank (both sides open and accept the
connections in one order, and a message of up to a few KiB arrives over
loopback in one read), so each request is matched without touching the
payload; round trips whose times are out of order are left out. It also gives each side's epoll_wait batches.
  io_trace.py SERVER_TRACE CLIENT_TRACE [--pattern=N]
--pattern=N prints N syscalls of the server from the middle of the run,
one epoll_wait batch a line (rFD a read, sFD a write, '-' for EAGAIN).
--by_position groups the round trips by the place of the server's read
in its epoll_wait batch (0-4, 5-9, ...): a server that reads a whole
batch before it answers shows the first places waiting longest before
the read (A) and the last places after it (B)."""
import collections
import sys


def load(path):
    with open(path) as f:
        return [(int(t), op, int(fd), int(ret)) for t, op, fd, ret in (line.split() for line in f)]


def per_fd(recs, op):
    d = collections.defaultdict(list)
    for t, o, fd, ret in recs:
        if o == op and ret > 0:
            d[fd].append(t)
    return d


def quantile(v, q):
    return v[min(len(v) - 1, int(q * len(v)))] / 1e3


def batches(name, recs, rts):
    sizes = [ret for _, op, _, ret in recs if op == 'w' and ret >= 0]
    timeouts = collections.Counter(fd for _, op, fd, _ in recs if op == 'W')
    eagain = sum(1 for _, op, _, ret in recs if op == 'r' and ret < 0)
    big = sum(1 for n in sizes if n >= 40)
    print('%-6s %6d epoll_waits (%.3f a round trip, timeouts %s), mean batch %.1f, batches of 40 or more %d '
          '(%.0f%% of the events), EAGAIN reads %d' %
          (name, len(sizes), len(sizes) / rts, dict(timeouts), sum(sizes) / max(1, len(sizes)), big,
           100.0 * sum(n for n in sizes if n >= 40) / max(1, sum(sizes)), eagain))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    pattern = 0
    for a in sys.argv[1:]:
        if a.startswith('--pattern='):
            pattern = int(a.split('=', 1)[1])
    srv, cli = load(args[0]), load(args[1])
    cs, cr = per_fd(cli, 's'), per_fd(cli, 'r')
    sr, ss = per_fd(srv, 'r'), per_fd(srv, 's')
    # The data connections: sockets with many reads and writes.
    cfds = sorted(f for f in cs if len(cs[f]) > 10)
    sfds = sorted(f for f in sr if len(sr[f]) > 10 and len(ss.get(f, [])) > 10)
    if len(cfds) != len(sfds):
        sys.exit('%d client sockets but %d server sockets' % (len(cfds), len(sfds)))
    # Each server read's place in its epoll_wait batch, by (fd, k-th read).
    position, seen, place = {}, collections.Counter(), 0
    for _, op, fd, ret in srv:
        if op == 'w':
            place = 0
        elif op == 'r' and ret > 0:
            position[(fd, seen[fd])] = place
            seen[fd] += 1
            place += 1
    rows = []
    for cf, sf in zip(cfds, sfds):
        n = min(len(cs[cf]), len(cr[cf]), len(sr[sf]), len(ss[sf]))
        for k in range(n // 10, n):  # the first tenth is the warm-up
            t0, t1, t2, t3 = cs[cf][k], sr[sf][k], ss[sf][k], cr[cf][k]
            if t0 <= t1 <= t2 <= t3:
                rows.append((t3 - t0, t1 - t0, t2 - t1, t3 - t2, cf, position.get((sf, k), -1)))
    rts = sum(len(v) for v in cs.values())
    print('%d round trips matched, %d connections' % (len(rows), len(cfds)))
    batches('server', srv, rts)
    batches('client', cli, rts)
    for label, i in (('total', 0), ('A client send -> server read', 1), ('B server read -> server send', 2),
                     ('C server send -> client read', 3)):
        v = sorted(r[i] for r in rows)
        print('  %-30s p50 %6.1f  p90 %6.1f  p99 %6.1f  mean %6.1f us' %
              (label, quantile(v, .5), quantile(v, .9), quantile(v, .99), sum(v) / len(v) / 1e3))
    rows.sort()
    top = rows[int(len(rows) * 0.99):]
    fds = collections.Counter(r[4] for r in top)
    five = sum(c for _, c in fds.most_common(5))
    print('  slowest 1%% (%d): mean A %.1f, B %.1f, C %.1f us; %.0f%% of them on the 5 most frequent of %d '
          'connections' % (len(top), sum(r[1] for r in top) / len(top) / 1e3, sum(r[2] for r in top) / len(top) / 1e3,
                           sum(r[3] for r in top) / len(top) / 1e3, 100.0 * five / len(top), len(cfds)))
    if '--by_position' in sys.argv[1:]:
        groups = collections.defaultdict(list)
        for r in rows:
            groups[min(r[5] // 5, 10)].append(r)
        for g in sorted(groups):
            v = groups[g]
            tot = sorted(r[0] for r in v)
            print('  read at place %-5s %6d (%4.1f%%): total p50 %6.1f  p90 %6.1f; mean A %6.1f  B %6.1f  C %6.1f us' %
                  ('%d-%d' % (g * 5, g * 5 + 4) if g < 10 else '50+', len(v), 100.0 * len(v) / len(rows),
                   quantile(tot, .5), quantile(tot, .9), sum(r[1] for r in v) / len(v) / 1e3,
                   sum(r[2] for r in v) / len(v) / 1e3, sum(r[3] for r in v) / len(v) / 1e3))
    if pattern:
        # The server's sockets shown by their client socket's number, so that
        # the two sides read alike.
        name = dict(zip(sfds, cfds))
        start = len(srv) // 2
        line = []
        for t, op, fd, ret in srv[start:start + pattern]:
            if op == 'w':
                print(' '.join(line))
                line = ['%s W%d(%d):' % ('%.1f' % ((t - srv[start][0]) / 1e3), ret, fd)]
            elif op in 'rs' and fd in name:
                line.append('%s%d%s' % (op, name[fd], '' if ret > 0 else '-'))
        print(' '.join(line))


if __name__ == '__main__':
    main()
