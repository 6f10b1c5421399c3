/* Echo server on raw epoll, single-threaded: the practical floor of the
 * echo benchmark. Level-triggered; one 64 KiB buffer per connection; a
 * short write parks the rest until the socket is writable.
 *   echo_epoll [port [ORDER]]   (prints "listening on PORT"; SIGINT/SIGTERM
 *                                stop it)
 * ORDER is how a batch of ready sockets is served (the p99 study in the
 * echo section of docs/benchmarks.md; the benchmark runs the default):
 *   interleaved    each ready socket read, then answered at once (default)
 *   reads_first    the whole batch read, then the replies in the same
 *                  order (corio's shape: its reactor reads, then the woken
 *                  tasks send)
 *   poll_between   reads_first with an epoll_wait(0) between the reads and
 *                  the replies, whose reports are the next batch
 *   round_robin    Asio's scheduler reduced (see round_robin() below);
 *                  edge-triggered
 * and edge_interleaved, edge_reads_first, edge_poll_between: the same,
 * registered edge-triggered (EPOLLET). Level-triggered epoll keeps a
 * reported socket at its place in the ready list, ahead of sockets that
 * become ready later; edge-triggered lists them in the order their data
 * came. The edge-triggered orders assume a message shorter than the buffer
 * except in edge_interleaved, which reads again after a full buffer. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 65536

struct conn {
  int fd;
  int queued, edge_seen, out_armed; /* round_robin only */
  size_t pending, off;
  char buf[BUF];
};

static volatile sig_atomic_t stop;
static void on_signal(int s) {
  (void)s;
  stop = 1;
}

enum order { kInterleaved, kReadsFirst, kPollBetween, kRoundRobin };
static enum order order = kInterleaved;
static int edge; /* register with EPOLLET */

/* Reads a ready connection unless it still has bytes to send; returns 0
 * when the connection is gone or has nothing to send. */
static int read_conn(struct conn* c) {
  if (c->pending != 0) return 1;
  ssize_t r = read(c->fd, c->buf, BUF);
  if (r <= 0) {
    if (r < 0 && errno == EAGAIN) return 0;
    close(c->fd);
    free(c);
    return 0;
  }
  c->pending = (size_t)r;
  c->off = 0;
  return 1;
}

/* Sends what a connection holds; a short write waits for EPOLLOUT. */
static int send_conn(int ep, struct conn* c, uint32_t events) {
  ssize_t w = send(c->fd, c->buf + c->off, c->pending, MSG_NOSIGNAL);
  if (w < 0 && errno != EAGAIN) {
    close(c->fd);
    free(c);
    return 0;
  }
  if (w > 0) {
    c->off += (size_t)w;
    c->pending -= (size_t)w;
  }
  uint32_t et = edge ? EPOLLET : 0;
  struct epoll_event e = {.events = (c->pending ? EPOLLOUT : EPOLLIN) | et, .data.ptr = c};
  if (c->pending)
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
  else if (events & EPOLLOUT)
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
  return 1;
}

/* Accepts every pending connection and registers it for EPOLLIN. */
static void accept_all(int ep, int l) {
  const int one = 1;
  for (;;) {
    int fd = accept4(l, NULL, NULL, SOCK_NONBLOCK);
    if (fd < 0) break;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn* c = malloc(sizeof *c);
    c->fd = fd;
    c->pending = c->off = 0;
    c->queued = c->edge_seen = c->out_armed = 0;
    struct epoll_event e = {.events = EPOLLIN | (edge ? EPOLLET : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
  }
}

/* Asio's scheduler, reduced: one FIFO queue of steps, the poll
 * (epoll_wait, edge-triggered, timeout 0 while steps wait) one of them and
 * put back at the tail after each run. A readiness report queues the
 * connection's read; a read that got bytes queues its send at the tail,
 * so a connection read in one pass is answered in the next, at the same
 * place in the pass. After a send the next read is queued only if a report
 * came meanwhile (Asio's speculative read), else the next report queues
 * it. Messages are assumed shorter than BUF (one read drains the socket). */
#define QCAP 65536
static struct conn* q[QCAP];
static unsigned qhead, qtail;
static void push(struct conn* c) { q[qtail++ % QCAP] = c; }

static int round_robin(int ep, int l) {
  static struct conn poll_step;
  struct epoll_event evs[128];
  push(&poll_step);
  while (!stop) {
    struct conn* c = q[qhead++ % QCAP];
    if (c == &poll_step) {
      int n = epoll_wait(ep, evs, 128, qhead == qtail ? -1 : 0);
      for (int i = 0; i < n; ++i) {
        struct conn* e = evs[i].data.ptr;
        if (e == NULL) {
          accept_all(ep, l);
        } else if (e->queued) {
          e->edge_seen = 1;
        } else {
          e->queued = 1;
          push(e);
        }
      }
      push(&poll_step);
      continue;
    }
    if (c->pending == 0) {
      c->edge_seen = 0;
      ssize_t r = read(c->fd, c->buf, BUF);
      if (r > 0) {
        c->pending = (size_t)r;
        c->off = 0;
        push(c);
      } else if (r < 0 && errno == EAGAIN) {
        c->queued = 0; /* the next report queues it */
      } else {
        close(c->fd);
        free(c);
      }
      continue;
    }
    if (!send_conn(ep, c, c->out_armed ? EPOLLOUT : 0)) continue;
    c->out_armed = c->pending != 0;
    if (c->pending != 0) {
      c->queued = 0; /* EPOLLOUT re-armed; its report queues the rest */
    } else if (c->edge_seen) {
      push(c);
    } else {
      c->queued = 0;
    }
  }
  return 0;
}

/* The orders other than round_robin, level- or edge-triggered. */
static int serve_batches(int ep, int l) {
  struct epoll_event evs[2][256];
  int cur = 0, n = 0;
  while (!stop) {
    if (n == 0) n = epoll_wait(ep, evs[cur], 256, -1);
    if (n < 0) n = 0;
    struct epoll_event* b = evs[cur];
    int next = 0;
    /* Phase 1: accept, and read each ready connection (in "interleaved"
     * order the send follows its read at once). */
    for (int i = 0; i < n; ++i) {
      struct conn* c = b[i].data.ptr;
      if (c == NULL) {
        accept_all(ep, l);
        b[i].data.ptr = NULL;
        continue;
      }
      if (!read_conn(c)) {
        b[i].data.ptr = NULL;
        continue;
      }
      if (order == kInterleaved) {
        /* Edge-triggered: a read that filled the buffer may have left bytes
         * that no new edge will report, so read again until a short read. */
        int again;
        do {
          again = edge && c->pending == BUF && c->off == 0;
        } while (send_conn(ep, c, b[i].events) && again && c->pending == 0 && read_conn(c));
        b[i].data.ptr = NULL;
      }
    }
    /* Asio's shape: look for new arrivals before the replies go out. */
    if (order == kPollBetween) next = epoll_wait(ep, evs[cur ^ 1], 256, 0);
    /* Phase 2: the replies, in the same order as the reads. */
    for (int i = 0; i < n; ++i) {
      struct conn* c = b[i].data.ptr;
      if (c != NULL) send_conn(ep, c, b[i].events);
    }
    if (order == kPollBetween) {
      cur ^= 1;
      n = next < 0 ? 0 : next;
    } else {
      n = 0;
    }
  }
  return 0;
}

int main(int argc, char** argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
  if (argc > 2) {
    const char* o = argv[2];
    if (strncmp(o, "edge_", 5) == 0) {
      edge = 1;
      o += 5;
    }
    if (strcmp(o, "reads_first") == 0)
      order = kReadsFirst;
    else if (strcmp(o, "poll_between") == 0)
      order = kPollBetween;
    else if (strcmp(o, "round_robin") == 0)
      order = kRoundRobin, edge = 1;
    else if (strcmp(o, "interleaved") != 0) {
      fprintf(stderr, "unknown order %s\n", argv[2]);
      return 2;
    }
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(l, (struct sockaddr*)&a, sizeof a) != 0 || listen(l, 1024) != 0) {
    perror("bind/listen");
    return 1;
  }
  socklen_t len = sizeof a;
  getsockname(l, (struct sockaddr*)&a, &len);
  printf("listening on %d\n", ntohs(a.sin_port));
  fflush(stdout);
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
  if (order == kRoundRobin) return round_robin(ep, l);
  if (order != kInterleaved || edge) return serve_batches(ep, l);
  /* The default: the benchmark's floor, kept as it was measured. */
  struct epoll_event evs[256];
  while (!stop) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; ++i) {
      struct conn* c = evs[i].data.ptr;
      if (c == NULL) {
        for (;;) {
          int fd = accept4(l, NULL, NULL, SOCK_NONBLOCK);
          if (fd < 0) break;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          c = malloc(sizeof *c);
          c->fd = fd;
          c->pending = c->off = 0;
          struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
        }
        continue;
      }
      if (c->pending == 0) {
        ssize_t r = read(c->fd, c->buf, BUF);
        if (r <= 0) {
          if (r < 0 && errno == EAGAIN) continue;
          close(c->fd);
          free(c);
          continue;
        }
        c->pending = (size_t)r;
        c->off = 0;
      }
      ssize_t w = send(c->fd, c->buf + c->off, c->pending, MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN) {
        close(c->fd);
        free(c);
        continue;
      }
      if (w > 0) {
        c->off += (size_t)w;
        c->pending -= (size_t)w;
      }
      struct epoll_event e = {.events = c->pending ? EPOLLOUT : EPOLLIN, .data.ptr = c};
      if (c->pending)
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
      else if (evs[i].events & EPOLLOUT)
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
    }
  }
  return 0;
}
