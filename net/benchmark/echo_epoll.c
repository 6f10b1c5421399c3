/* Echo server on raw epoll, single-threaded: the practical floor of the
 * echo benchmark. Level-triggered; one 64 KiB buffer per connection; a
 * short write parks the rest until the socket is writable.
 *   echo_epoll [port]   (prints "listening on PORT"; SIGINT/SIGTERM stop it) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 65536

struct conn {
  int fd;
  size_t pending, off;
  char buf[BUF];
};

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

int main(int argc, char** argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
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
      if (c->pending) epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
      else if (evs[i].events & EPOLLOUT) epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
    }
  }
  return 0;
}
