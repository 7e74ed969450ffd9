// gate_upstream: the model-server stand-in of bench/gate.sh (built with `cc -O2 -static`), a
// keep-alive HTTP/1.1 server in C so that the server is never what limits the figures.
//
//   gate_upstream PORT [DELAY_MS]
//     Sleeps DELAY_MS (a model loading), then listens on 127.0.0.1:PORT and prints
//     "listen NS" (CLOCK_MONOTONIC, just after listen()) and "accept NS" for each of the first
//     four connections it accepts, on stdout. Requests, by their first line:
//       GET /bytes?n=N     N bytes (a download), then the connection closes
//       POST /upload       reads Content-Length bytes, answers "ok", then closes
//       anything else      a tiny fixed 200 answer; the connection stays open (keep-alive)
//     One thread, epoll; the two transfers are served blocking (the bench runs them alone).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char kAnswer[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n";

static void die(const char* what) {
  perror(what);
  exit(1);
}

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int send_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void set_blocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) die("fcntl");
}

static void download(int fd, unsigned long long n) {
  static char block[1 << 20];
  char head[128];
  int len = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %llu\r\n\r\n", n);
  set_blocking(fd);
  if (send_all(fd, head, (size_t)len) != 0) return;
  while (n > 0) {
    size_t k = n < sizeof block ? (size_t)n : sizeof block;
    if (send_all(fd, block, k) != 0) return;
    n -= k;
  }
}

static void upload(int fd, const char* request, size_t have, size_t head_len) {
  const char* cl = strcasestr(request, "content-length:");
  unsigned long long n = cl ? strtoull(cl + 15, NULL, 10) : 0;
  unsigned long long got = have - head_len;
  static char block[1 << 20];
  set_blocking(fd);
  while (got < n) {
    ssize_t r = recv(fd, block, sizeof block, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return;
    got += (unsigned long long)r;
  }
  static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
  send_all(fd, ok, sizeof ok - 1);
}

struct conn {
  int fd;
  size_t len;
  char buf[8192];
};

// Answers every complete request in c->buf; returns -1 when the connection is to close.
static int serve(struct conn* c) {
  for (;;) {
    c->buf[c->len] = '\0';
    char* end = strstr(c->buf, "\r\n\r\n");
    if (!end) return c->len >= sizeof c->buf - 1 ? -1 : 0;
    size_t head_len = (size_t)(end - c->buf) + 4;
    if (strncmp(c->buf, "GET /bytes?n=", 13) == 0) {
      download(c->fd, strtoull(c->buf + 13, NULL, 10));
      return -1;
    }
    if (strncmp(c->buf, "POST /upload", 12) == 0) {
      upload(c->fd, c->buf, c->len, head_len);
      return -1;
    }
    if (send_all(c->fd, kAnswer, sizeof kAnswer - 1) != 0) return -1;
    memmove(c->buf, c->buf + head_len, c->len - head_len);
    c->len -= head_len;
  }
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: gate_upstream PORT [DELAY_MS]\n");
    return 2;
  }
  if (argc > 2) {
    long ms = atol(argv[2]);
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&d, &d) != 0 && errno == EINTR) {
    }
  }
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0) die("socket");
  int one = 1;
  if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) die("setsockopt");
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr*)&a, sizeof a) != 0) die("bind");
  if (listen(lfd, 4096) != 0) die("listen");
  printf("listen %lld\n", now_ns());
  fflush(stdout);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) != 0) die("epoll_ctl");
  int accepted = 0;
  for (;;) {
    struct epoll_event events[64];
    int n = epoll_wait(ep, events, 64, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("epoll_wait");
    for (int i = 0; i < n; ++i) {
      struct conn* c = events[i].data.ptr;
      if (!c) {
        int fd;
        while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
          if (accepted < 4) {
            printf("accept %lld\n", now_ns());
            fflush(stdout);
          }
          ++accepted;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          c = calloc(1, sizeof *c);
          if (!c) die("calloc");
          c->fd = fd;
          struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
          if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev) != 0) die("epoll_ctl");
        }
        continue;
      }
      ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len, 0);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r > 0) c->len += (size_t)r;
      if (r <= 0 || serve(c) != 0) {
        close(c->fd);  // also leaves the epoll set
        free(c);
      }
    }
  }
}
