// gate_load: the client of bench/gate.sh (built with `cc -O2 -static`). Every time is
// CLOCK_MONOTONIC; every wait is bounded.
//
//   gate_load rate PORT RATE CONNS SECONDS
//     Open loop: requests scheduled at RATE per second over CONNS keep-alive connections
//     (each carries one request at a time; a request whose connection is busy waits in a
//     queue). Latency runs from the *scheduled* time to the last byte of the answer, so a
//     stall counts in full (no coordinated omission). The first second is not counted.
//     Prints "n= p50_us= p99_us= p999_us= max_us= service_p50_us= service_p99_us= errors=";
//     service_* run from the actual send instead.
//   gate_load first PORT
//     Connects (retrying while refused), sends one GET and prints "connected NS" and
//     "answered NS" (the last byte of the answer).
//   gate_load held PORT N
//     Opens N connections, sends nothing, prints "held N" and keeps them until stdin ends.
//   gate_load get PORT BYTES | put PORT BYTES
//     Downloads (GET /bytes?n=BYTES) or uploads (POST /upload) BYTES on one connection and
//     prints "bytes=B ns=T" (connect to the answer's end).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char kRequest[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";

static void die(const char* what) {
  perror(what);
  exit(1);
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int dial(int port, int retry_refused) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int64_t give_up = now_ns() + 10000000000LL;
  for (;;) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    if (connect(fd, (struct sockaddr*)&a, sizeof a) == 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    int e = errno;
    close(fd);
    if (!retry_refused || e != ECONNREFUSED || now_ns() > give_up) {
      errno = e;
      die("connect");
    }
    struct timespec d = {0, 100000};
    nanosleep(&d, NULL);
  }
}

static void send_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die("send");
    p += w;
    n -= (size_t)w;
  }
}

// Length of a complete answer at the start of buf, 0 if it is not complete yet.
static size_t answer_length(const char* buf, size_t len) {
  const char* end = memmem(buf, len, "\r\n\r\n", 4);
  if (!end) return 0;
  size_t head = (size_t)(end - buf) + 4;
  const char* cl = memmem(buf, head, "Content-Length:", 15);
  size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
  return len >= head + body ? head + body : 0;
}

static int cmp(const void* a, const void* b) {
  int64_t x = *(const int64_t*)a, y = *(const int64_t*)b;
  return (x > y) - (x < y);
}

static double pct(int64_t* v, size_t n, double p) {
  if (n == 0) return 0;
  size_t i = (size_t)(p * (double)(n - 1) + 0.5);
  return (double)v[i] / 1000.0;
}

struct conn {
  int fd;
  int busy;
  int64_t scheduled, sent;
  size_t len;
  char buf[4096];
};

static int rate(int port, double per_second, int nconns, double seconds) {
  // Timer slack (50 µs by default) would make every send late by up to that.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  size_t total = (size_t)(per_second * seconds);
  int64_t step = (int64_t)(1e9 / per_second);
  struct conn* conns = calloc((size_t)nconns, sizeof *conns);
  struct pollfd* pfds = calloc((size_t)nconns, sizeof *pfds);
  int64_t* queue = calloc(total, sizeof *queue);
  int64_t* lat = calloc(total, sizeof *lat);
  int64_t* service = calloc(total, sizeof *service);
  if (!conns || !pfds || !queue || !lat || !service) die("calloc");
  for (int i = 0; i < nconns; ++i) conns[i].fd = dial(port, 0);
  int64_t start = now_ns() + 100000000LL, warm = start + 1000000000LL;
  size_t scheduled = 0, head = 0, done = 0, counted = 0, errors = 0;
  int64_t give_up = start + (int64_t)(seconds * 1e9) + 10000000000LL;
  while (done < total) {
    int64_t now = now_ns();
    if (now > give_up) {
      fprintf(stderr, "gate_load: gave up with %zu of %zu answered\n", done, total);
      errors += total - done;
      break;
    }
    while (scheduled < total && start + (int64_t)scheduled * step <= now) {
      queue[scheduled] = start + (int64_t)scheduled * step;
      ++scheduled;
    }
    for (int i = 0; i < nconns && head < scheduled; ++i) {
      if (conns[i].busy) continue;
      conns[i].busy = 1;
      conns[i].scheduled = queue[head++];
      conns[i].sent = now_ns();
      send_all(conns[i].fd, kRequest, sizeof kRequest - 1);
    }
    for (int i = 0; i < nconns; ++i) pfds[i] = (struct pollfd){conns[i].fd, POLLIN, 0};
    int64_t wait = scheduled < total ? start + (int64_t)scheduled * step - now_ns() : 100000000;
    if (wait < 0) wait = 0;
    struct timespec t = {wait / 1000000000, wait % 1000000000};
    int n = ppoll(pfds, (nfds_t)nconns, &t, NULL);
    if (n < 0 && errno != EINTR) die("ppoll");
    for (int i = 0; n > 0 && i < nconns; ++i) {
      if (!pfds[i].revents) continue;
      struct conn* c = &conns[i];
      ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
      if (r <= 0) die("recv (the server closed a keep-alive connection)");
      c->len += (size_t)r;
      size_t whole = answer_length(c->buf, c->len);
      if (!whole || !c->busy) continue;
      int64_t end = now_ns();
      if (c->scheduled >= warm) {
        lat[counted] = end - c->scheduled;
        service[counted++] = end - c->sent;
      }
      memmove(c->buf, c->buf + whole, c->len - whole);
      c->len -= whole;
      c->busy = 0;
      ++done;
    }
  }
  qsort(lat, counted, sizeof *lat, cmp);
  qsort(service, counted, sizeof *service, cmp);
  printf("n=%zu p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f service_p50_us=%.1f "
         "service_p99_us=%.1f errors=%zu\n",
         counted, pct(lat, counted, 0.5), pct(lat, counted, 0.99), pct(lat, counted, 0.999),
         counted ? (double)lat[counted - 1] / 1000.0 : 0.0, pct(service, counted, 0.5),
         pct(service, counted, 0.99), errors);
  return errors ? 1 : 0;
}

static int first(int port) {
  int fd = dial(port, 1);
  printf("connected %lld\n", (long long)now_ns());
  send_all(fd, kRequest, sizeof kRequest - 1);
  char buf[4096];
  size_t len = 0;
  struct pollfd p = {fd, POLLIN, 0};
  while (!answer_length(buf, len)) {
    if (poll(&p, 1, 30000) <= 0) die("poll (no answer within 30 s)");
    ssize_t r = recv(fd, buf + len, sizeof buf - len, 0);
    if (r <= 0) die("recv");
    len += (size_t)r;
  }
  printf("answered %lld\n", (long long)now_ns());
  return 0;
}

static int held(int port, int n) {
  struct rlimit l;
  if (getrlimit(RLIMIT_NOFILE, &l) == 0 && l.rlim_cur < l.rlim_max) {
    l.rlim_cur = l.rlim_max;
    setrlimit(RLIMIT_NOFILE, &l);
  }
  for (int i = 0; i < n; ++i) dial(port, 0);
  printf("held %d\n", n);
  fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {
  }
  return 0;
}

static int transfer(int port, int upload, unsigned long long bytes) {
  static char block[1 << 20];
  int64_t t0 = now_ns();
  int fd = dial(port, 0);
  char head[160];
  int len = upload ? snprintf(head, sizeof head,
                              "POST /upload HTTP/1.1\r\nContent-Length: %llu\r\n\r\n", bytes)
                   : snprintf(head, sizeof head, "GET /bytes?n=%llu HTTP/1.1\r\n\r\n", bytes);
  send_all(fd, head, (size_t)len);
  for (unsigned long long left = upload ? bytes : 0; left > 0;) {
    size_t k = left < sizeof block ? (size_t)left : sizeof block;
    send_all(fd, block, k);
    left -= k;
  }
  unsigned long long got = 0;
  for (;;) {
    ssize_t r = recv(fd, block, sizeof block, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die("recv");
    if (r == 0) break;
    got += (unsigned long long)r;
  }
  printf("bytes=%llu ns=%lld\n", upload ? bytes : got, (long long)(now_ns() - t0));
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 6 && strcmp(argv[1], "rate") == 0) {
    return rate(atoi(argv[2]), atof(argv[3]), atoi(argv[4]), atof(argv[5]));
  }
  if (argc >= 3 && strcmp(argv[1], "first") == 0) return first(atoi(argv[2]));
  if (argc >= 4 && strcmp(argv[1], "held") == 0) return held(atoi(argv[2]), atoi(argv[3]));
  if (argc >= 4 && (strcmp(argv[1], "get") == 0 || strcmp(argv[1], "put") == 0)) {
    return transfer(atoi(argv[2]), argv[1][0] == 'p', strtoull(argv[3], NULL, 10));
  }
  fprintf(stderr,
          "usage: gate_load rate PORT RATE CONNS SECONDS | first PORT | held PORT N |\n"
          "       get PORT BYTES | put PORT BYTES\n");
  return 2;
}
