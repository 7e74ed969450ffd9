// stamp: the timing helper of podvisor's benchmark (bench/run.sh builds it with
// `cc -O2 -static`). One binary, two roles:
//
//   stamp child FIFO [--crash-after-ms N] [--produce BYTES] [--once MARKER]
//     The supervised program. Its first act after exec is to read CLOCK_MONOTONIC; it then
//     writes "exec PID NS" to FIFO. By default it then sleeps until a signal ends it
//     (SIGTERM at its default action: it dies at once). --crash-after-ms N: after N ms it
//     writes "crash PID NS" and kills itself with SIGSEGV (no core file). --produce BYTES:
//     it writes BYTES of text to stdout in 64 KiB writes, with "begin PID NS" before the
//     first and "done PID NS BYTES" after the last, then exits 0. --once MARKER: the crash
//     or the output happens only in the first child (the one that creates MARKER); later
//     children (restarts) just sleep, so a crash or an output burst is not repeated.
//
//   stamp run [OPTIONS] -- SUPERVISOR [ARGS...]
//     The measuring harness. It starts SUPERVISOR (own session, stdin /dev/null, stdout and
//     stderr to --log, default /dev/null), reading CLOCK_MONOTONIC in the forked child just
//     before execve, and follows the children's events on FIFO. It prints key=value lines:
//       start_ns     supervisor execve -> first child's exec
//       restart_ns   first child's crash -> second child's exec      (--restart)
//       relay_ns, relay_bytes   first output write -> last write returned (--relay)
//       rss_kb       VmRSS of the supervisor process                  (--rss)
//       rss_after_idle_kb  VmRSS again at the end of the idle window (--rss --idle-seconds)
//       wakeups      voluntary + nonvoluntary context switches of the supervisor over the
//                    idle window, summed over its threads            (--idle-seconds N)
//       term_ns      SIGTERM sent -> supervisor exited (pidfd)       (--term)
//       leftover     processes still alive after the supervisor exited (killed by us)
//     Every wait is bounded (--timeout-ms, default 30000); on a timeout it prints
//     error=... and exits 1. It is a child subreaper, so whatever the supervisor leaves
//     behind becomes its child, is counted and is killed before it exits.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ns(int64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("stamp: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

// ---------------------------------------------------------------------------------------
// child

static int event_fd = -1;

static void emit(const char* line) {
  if (event_fd >= 0) {
    // One write of less than PIPE_BUF bytes: atomic, never interleaved with another child.
    ssize_t n = write(event_fd, line, strlen(line));
    (void)n;
  }
}

static void sleep_forever(void) {
  for (;;) pause();
}

static int child_main(int argc, char** argv) {
  const int64_t t_exec = now_ns();  // first thing after exec
  if (argc < 3) die("usage: stamp child FIFO [--crash-after-ms N] [--produce BYTES] [--once M]");
  const char* fifo = argv[2];
  long crash_after_ms = -1;
  long long produce = -1;
  const char* once = NULL;
  for (int i = 3; i < argc; ++i) {
    if (!strcmp(argv[i], "--crash-after-ms") && i + 1 < argc) {
      crash_after_ms = atol(argv[++i]);
    } else if (!strcmp(argv[i], "--produce") && i + 1 < argc) {
      produce = atoll(argv[++i]);
    } else if (!strcmp(argv[i], "--once") && i + 1 < argc) {
      once = argv[++i];
    } else {
      die("child: unknown argument %s", argv[i]);
    }
  }
  // A supervisor may hand down a blocked or ignored SIGTERM; the benchmark wants the
  // child to die at once on SIGTERM.
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_UNBLOCK, &all, NULL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);

  event_fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  char line[160];
  snprintf(line, sizeof line, "exec %d %lld\n", (int)getpid(), (long long)t_exec);
  emit(line);

  int act = 1;
  if (once) {
    const int fd = open(once, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      act = 0;
    } else {
      close(fd);
    }
  }
  if (!act) sleep_forever();

  if (crash_after_ms >= 0) {
    sleep_ns((int64_t)crash_after_ms * 1000000);
    prctl(PR_SET_DUMPABLE, 0);  // no core file: the crash must cost what a crash costs
    signal(SIGSEGV, SIG_DFL);
    const int64_t t_crash = now_ns();
    snprintf(line, sizeof line, "crash %d %lld\n", (int)getpid(), (long long)t_crash);
    emit(line);
    raise(SIGSEGV);
    _exit(139);
  }

  if (produce >= 0) {
    enum { kChunk = 64 * 1024 };
    static char buf[kChunk];
    // Log-like text: 63 printable bytes and a newline, repeated.
    for (int i = 0; i < kChunk; ++i) buf[i] = (i % 64 == 63) ? '\n' : (char)('a' + (i % 64) % 26);
    long long left = produce;
    const int64_t t_begin = now_ns();
    snprintf(line, sizeof line, "begin %d %lld\n", (int)getpid(), (long long)t_begin);
    emit(line);
    while (left > 0) {
      size_t want = left < kChunk ? (size_t)left : kChunk;
      const char* p = buf;
      while (want > 0) {
        const ssize_t n = write(STDOUT_FILENO, p, want);
        if (n < 0) {
          if (errno == EINTR) continue;
          snprintf(line, sizeof line, "fail %d %lld write: %s\n", (int)getpid(),
                   (long long)now_ns(), strerror(errno));
          emit(line);
          _exit(1);
        }
        p += n;
        want -= (size_t)n;
        left -= n;
      }
    }
    const int64_t t_done = now_ns();
    snprintf(line, sizeof line, "done %d %lld %lld\n", (int)getpid(), (long long)t_done,
             produce);
    emit(line);
    return 0;
  }

  sleep_forever();
  return 0;
}

// ---------------------------------------------------------------------------------------
// run

enum { kMaxEvents = 64, kMaxChildren = 64 };

struct event {
  char kind[16];
  int pid;
  long long ns;
  long long extra;
};

static struct event events[kMaxEvents];
static int n_events;
static int fifo_fd = -1;
static char fifo_buf[8192];
static size_t fifo_len;

static void parse_events(void) {
  for (;;) {
    char* nl = memchr(fifo_buf, '\n', fifo_len);
    if (!nl) return;
    *nl = '\0';
    struct event e = {{0}, 0, 0, 0};
    if (sscanf(fifo_buf, "%15s %d %lld %lld", e.kind, &e.pid, &e.ns, &e.extra) >= 3 &&
        n_events < kMaxEvents) {
      events[n_events++] = e;
    }
    const size_t used = (size_t)(nl + 1 - fifo_buf);
    memmove(fifo_buf, nl + 1, fifo_len - used);
    fifo_len -= used;
  }
}

static void read_fifo(void) {
  for (;;) {
    const ssize_t n = read(fifo_fd, fifo_buf + fifo_len, sizeof fifo_buf - 1 - fifo_len);
    if (n > 0) {
      fifo_len += (size_t)n;
      parse_events();
      continue;
    }
    return;  // EAGAIN: nothing more now
  }
}

static int count_kind(const char* kind) {
  int n = 0;
  for (int i = 0; i < n_events; ++i) n += !strcmp(events[i].kind, kind);
  return n;
}

static const struct event* nth_kind(const char* kind, int nth) {
  for (int i = 0; i < n_events; ++i) {
    if (!strcmp(events[i].kind, kind) && nth-- == 0) return &events[i];
  }
  return NULL;
}

static pid_t sup_pid = -1;
static int sup_pidfd = -1;
static int sup_exited;
static int sup_status;

// SIGINT/SIGTERM/SIGHUP to the harness: stop waiting, clean up, exit 1.
static volatile sig_atomic_t interrupted;
static void on_interrupt(int signo) {
  (void)signo;
  interrupted = 1;
}

static int pidfd_open_(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

static void note_exit_if_any(void) {
  if (sup_exited) return;
  int st;
  const pid_t r = waitpid(sup_pid, &st, WNOHANG);
  if (r == sup_pid) {
    sup_exited = 1;
    sup_status = st;
  }
}

// Waits until pred() holds, the supervisor exits (returns -1) or the deadline passes
// (returns 0). Returns 1 when pred() holds.
static int wait_until(int (*pred)(void), int64_t deadline) {
  for (;;) {
    read_fifo();
    if (pred()) return 1;
    note_exit_if_any();
    if (sup_exited) {
      read_fifo();
      return pred() ? 1 : -1;
    }
    const int64_t left = deadline - now_ns();
    if (left <= 0 || interrupted) return 0;
    struct pollfd p[2] = {{fifo_fd, POLLIN, 0}, {sup_pidfd, POLLIN, 0}};
    int timeout_ms = (int)(left / 1000000) + 1;
    if (sup_pidfd < 0) timeout_ms = timeout_ms > 5 ? 5 : timeout_ms;  // no pidfd: poll
    poll(p, sup_pidfd >= 0 ? 2 : 1, timeout_ms);
  }
}

static int want_execs;
static int pred_execs(void) { return count_kind("exec") >= want_execs; }
static int pred_restart(void) { return count_kind("exec") >= 2 && count_kind("crash") >= 1; }
static int pred_done(void) { return count_kind("done") >= 1 || count_kind("fail") >= 1; }

static long read_status_field(pid_t pid, const char* tid, const char* field) {
  char path[96];
  if (tid) {
    snprintf(path, sizeof path, "/proc/%d/task/%s/status", (int)pid, tid);
  } else {
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  }
  FILE* f = fopen(path, "re");
  if (!f) return -1;
  char line[256];
  long value = -1;
  const size_t len = strlen(field);
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, field, len) && line[len] == ':') {
      value = strtol(line + len + 1, NULL, 10);
      break;
    }
  }
  fclose(f);
  return value;
}

// Context switches of every thread of the process (a single-threaded process: the same
// figures as /proc/PID/status).
static long context_switches(pid_t pid, int* threads) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  DIR* d = opendir(path);
  if (!d) return -1;
  long sum = 0;
  *threads = 0;
  struct dirent* e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    const long v = read_status_field(pid, e->d_name, "voluntary_ctxt_switches");
    const long nv = read_status_field(pid, e->d_name, "nonvoluntary_ctxt_switches");
    if (v >= 0 && nv >= 0) {
      sum += v + nv;
      ++*threads;
    }
  }
  closedir(d);
  return sum;
}

static int read_ppid(pid_t pid) {
  return (int)read_status_field(pid, NULL, "PPid");
}

// Processes whose parent is this harness other than the supervisor: leftovers that were
// reparented to us (we are a child subreaper) or, for a shell pipeline, its members.
static int kill_our_children(int signo) {
  DIR* d = opendir("/proc");
  if (!d) return 0;
  int n = 0;
  const pid_t self = getpid();
  struct dirent* e;
  while ((e = readdir(d))) {
    char* end;
    const long pid = strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end) continue;
    if ((pid_t)pid == sup_pid && !sup_exited) continue;
    if (read_ppid((pid_t)pid) != self) continue;
    char st[64], buf[512];
    snprintf(st, sizeof st, "/proc/%ld/stat", pid);
    FILE* f = fopen(st, "re");
    char state = '?';
    if (f) {
      if (fgets(buf, sizeof buf, f)) {
        const char* p = strrchr(buf, ')');
        if (p && p[1]) state = p[2];
      }
      fclose(f);
    }
    if (state == 'Z') continue;
    if (kill((pid_t)pid, signo) == 0) ++n;
  }
  closedir(d);
  return n;
}

static void reap_all(void) {
  int st;
  pid_t r;
  while ((r = waitpid(-1, &st, WNOHANG)) > 0) {
    if (r == sup_pid && !sup_exited) {
      sup_exited = 1;
      sup_status = st;
    }
  }
}

static int self_exe_is(pid_t pid) {
  char a[4096], b[4096], path[64];
  snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
  const ssize_t na = readlink(path, a, sizeof a - 1);
  const ssize_t nb = readlink("/proc/self/exe", b, sizeof b - 1);
  if (na <= 0 || nb <= 0) return 0;
  a[na] = b[nb] = '\0';
  return !strcmp(a, b);
}

// Ends the supervisor (if still there) and everything it started. Returns the number of
// processes that outlived the supervisor's own exit.
static int clean_up(int64_t timeout_ns) {
  note_exit_if_any();
  if (!sup_exited) {
    kill(sup_pid, SIGTERM);
    const int64_t deadline = now_ns() + timeout_ns;
    while (!sup_exited && now_ns() < deadline) {
      struct pollfd p = {sup_pidfd, POLLIN, 0};
      poll(&p, sup_pidfd >= 0 ? 1 : 0, 10);
      note_exit_if_any();
    }
    if (!sup_exited) {
      kill(sup_pid, SIGKILL);
      waitpid(sup_pid, &sup_status, 0);
      sup_exited = 1;
    }
  }
  // The supervisor is gone; give its own exit path a moment to have ended its children.
  sleep_ns(20 * 1000000);
  reap_all();
  int leftover = 0;
  // Children the supervisor started that are still alive (they are stamp processes).
  for (int i = 0; i < n_events; ++i) {
    if (strcmp(events[i].kind, "exec") != 0) continue;
    const pid_t pid = events[i].pid;
    if (kill(pid, 0) == 0 && self_exe_is(pid)) {
      char st[64], buf[512];
      snprintf(st, sizeof st, "/proc/%d/stat", (int)pid);
      FILE* f = fopen(st, "re");
      char state = '?';
      if (f) {
        if (fgets(buf, sizeof buf, f)) {
          const char* p = strrchr(buf, ')');
          if (p && p[1]) state = p[2];
        }
        fclose(f);
      }
      if (state != 'Z') {
        ++leftover;
        kill(pid, SIGKILL);
      }
    }
  }
  leftover += kill_our_children(SIGKILL);
  const int64_t deadline = now_ns() + 5000000000LL;
  for (;;) {
    reap_all();
    if (kill_our_children(SIGKILL) == 0) {
      reap_all();
      break;
    }
    if (now_ns() > deadline) {
      fprintf(stderr, "stamp: processes survive SIGKILL\n");
      break;
    }
    sleep_ns(5 * 1000000);
  }
  return leftover;
}

static void print_events(FILE* out) {
  for (int i = 0; i < n_events; ++i) {
    fprintf(out, "event=%s pid=%d ns=%lld\n", events[i].kind, events[i].pid, events[i].ns);
  }
}

static int fail(const char* what) {
  read_fifo();
  printf("error=%s\n", what);
  note_exit_if_any();
  if (sup_exited) {
    if (WIFEXITED(sup_status)) {
      printf("supervisor_exit=%d\n", WEXITSTATUS(sup_status));
    } else if (WIFSIGNALED(sup_status)) {
      printf("supervisor_signal=%d\n", WTERMSIG(sup_status));
    }
  }
  print_events(stdout);
  printf("leftover=%d\n", clean_up(2000000000LL));
  fflush(stdout);
  return 1;
}

static int run_main(int argc, char** argv) {
  const char* fifo = NULL;
  const char* log = "/dev/null";
  int restart = 0, relay = 0, rss = 0, term = 0, verbose = 0;
  long settle_ms = 0, timeout_ms = 30000;
  double idle_seconds = 0;
  int i = 2;
  for (; i < argc; ++i) {
    if (!strcmp(argv[i], "--")) {
      ++i;
      break;
    } else if (!strcmp(argv[i], "--fifo") && i + 1 < argc) {
      fifo = argv[++i];
    } else if (!strcmp(argv[i], "--log") && i + 1 < argc) {
      log = argv[++i];
    } else if (!strcmp(argv[i], "--restart")) {
      restart = 1;
    } else if (!strcmp(argv[i], "--relay")) {
      relay = 1;
    } else if (!strcmp(argv[i], "--rss")) {
      rss = 1;
    } else if (!strcmp(argv[i], "--term")) {
      term = 1;
    } else if (!strcmp(argv[i], "--verbose")) {
      verbose = 1;
    } else if (!strcmp(argv[i], "--settle-ms") && i + 1 < argc) {
      settle_ms = atol(argv[++i]);
    } else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc) {
      timeout_ms = atol(argv[++i]);
    } else if (!strcmp(argv[i], "--idle-seconds") && i + 1 < argc) {
      idle_seconds = atof(argv[++i]);
    } else {
      die("run: unknown argument %s", argv[i]);
    }
  }
  if (!fifo || i >= argc) die("usage: stamp run --fifo PATH [OPTIONS] -- SUPERVISOR [ARGS...]");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_interrupt;  // no SA_RESTART: poll() returns EINTR
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  char** cmd = argv + i;
  const int64_t timeout = (int64_t)timeout_ms * 1000000;

  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) die("prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(errno));
  unlink(fifo);
  if (mkfifo(fifo, 0600) != 0) die("mkfifo %s: %s", fifo, strerror(errno));
  // O_RDWR: the FIFO never reads end-of-file between children.
  fifo_fd = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fifo_fd < 0) die("open %s: %s", fifo, strerror(errno));
  const int log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) die("open %s: %s", log, strerror(errno));
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) die("open /dev/null: %s", strerror(errno));

  int64_t* t_start = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (t_start == MAP_FAILED) die("mmap: %s", strerror(errno));
  *t_start = 0;
  fflush(NULL);

  sup_pid = fork();
  if (sup_pid < 0) die("fork: %s", strerror(errno));
  if (sup_pid == 0) {
    setsid();
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    *t_start = now_ns();
    execvp(cmd[0], cmd);
    const int err = errno;
    dprintf(log_fd, "stamp: exec %s: %s\n", cmd[0], strerror(err));
    _exit(127);
  }
  close(log_fd);
  close(null_fd);
  sup_pidfd = pidfd_open_(sup_pid);

  // 1. Start: the first child's exec.
  want_execs = 1;
  int r = wait_until(pred_execs, now_ns() + timeout);
  if (r == 0) return fail(interrupted ? "interrupted" : "timeout waiting for the child's exec");
  if (r < 0) return fail("supervisor exited before the child's exec");
  const struct event* first = nth_kind("exec", 0);
  printf("start_ns=%lld\n", (long long)(first->ns - *t_start));

  if (restart) {
    r = wait_until(pred_restart, now_ns() + timeout);
    if (r == 0) return fail(interrupted ? "interrupted" : "timeout waiting for the restart");
    if (r < 0) return fail("supervisor exited before the restart");
    const struct event* crash = nth_kind("crash", 0);
    const struct event* again = nth_kind("exec", 1);
    printf("restart_ns=%lld\n", again->ns - crash->ns);
  }

  if (relay) {
    r = wait_until(pred_done, now_ns() + timeout);
    if (r == 0) {
      return fail(interrupted ? "interrupted" : "timeout waiting for the output to be written");
    }
    if (r < 0 && !pred_done()) return fail("supervisor exited before the output was written");
    if (count_kind("fail")) return fail("producer's write failed");
    const struct event* begin = nth_kind("begin", 0);
    const struct event* done = nth_kind("done", 0);
    if (!begin) return fail("no begin event");
    printf("relay_ns=%lld\nrelay_bytes=%lld\n", done->ns - begin->ns, done->extra);
  }

  if (settle_ms > 0) {
    // Sleep, but notice a supervisor that dies meanwhile.
    want_execs = 1000;
    wait_until(pred_execs, now_ns() + (int64_t)settle_ms * 1000000);
    if (interrupted) return fail("interrupted");
    note_exit_if_any();
    if (sup_exited && !relay) return fail("supervisor exited while settling");
  }

  if (rss) printf("rss_kb=%ld\n", read_status_field(sup_pid, NULL, "VmRSS"));

  if (idle_seconds > 0) {
    int threads = 0;
    const long before = context_switches(sup_pid, &threads);
    want_execs = 1000;
    wait_until(pred_execs, now_ns() + (int64_t)(idle_seconds * 1e9));
    note_exit_if_any();
    if (interrupted) return fail("interrupted");
    if (sup_exited) return fail("supervisor exited during the idle window");
    const long after = context_switches(sup_pid, &threads);
    printf("wakeups=%ld\nthreads=%d\nchildren_started=%d\n", after - before, threads,
           count_kind("exec"));
    if (rss) printf("rss_after_idle_kb=%ld\n", read_status_field(sup_pid, NULL, "VmRSS"));
  }

  if (term) {
    note_exit_if_any();
    if (sup_exited) return fail("supervisor exited before SIGTERM");
    const int64_t t0 = now_ns();
    kill(sup_pid, SIGTERM);
    int64_t t1 = 0;
    const int64_t deadline = t0 + timeout;
    if (sup_pidfd >= 0) {
      for (;;) {
        struct pollfd p = {sup_pidfd, POLLIN, 0};
        const int64_t left = deadline - now_ns();
        if (left <= 0 || interrupted) break;
        if (poll(&p, 1, (int)(left / 1000000) + 1) > 0) {
          t1 = now_ns();
          break;
        }
      }
    } else {
      while (now_ns() < deadline && !interrupted) {
        note_exit_if_any();
        if (sup_exited) {
          t1 = now_ns();
          break;
        }
        sleep_ns(100000);
      }
    }
    if (!t1) {
      return fail(interrupted ? "interrupted"
                              : "timeout waiting for the supervisor to exit after SIGTERM");
    }
    note_exit_if_any();
    printf("term_ns=%lld\n", (long long)(t1 - t0));
  }

  if (verbose) print_events(stdout);
  printf("leftover=%d\n", clean_up(5000000000LL));
  if (sup_exited && WIFEXITED(sup_status)) printf("supervisor_exit=%d\n", WEXITSTATUS(sup_status));
  if (sup_exited && WIFSIGNALED(sup_status)) printf("supervisor_signal=%d\n", WTERMSIG(sup_status));
  unlink(fifo);
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 2 && !strcmp(argv[1], "child")) return child_main(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "run")) return run_main(argc, argv);
  fprintf(stderr, "usage: stamp child FIFO [...] | stamp run --fifo PATH [...] -- CMD...\n");
  return 2;
}
