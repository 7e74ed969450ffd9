/* podvisor-gpu: the NVML companion. podvisor is one static binary and cannot dlopen NVML, so
 * this small dynamically linked program does it and answers over a pipe: one-word commands
 * on stdin ("sample <id>", "quit"), one JSON line per answer or event on stdout, each line
 * one write(2). It exits 3 when NVML cannot be loaded or initialised, and at end of input. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nvml_abi.h"

enum { kNoNvml = 3, kMaxGpus = 64, kMaxPid = 4194304 };

/* --- a growing text buffer for one output line */

typedef struct {
  char* data;
  size_t len, cap;
} Buf;

static void buf_grow(Buf* b, size_t more) {
  if (b->len + more + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + more + 1) cap *= 2;
  char* data = realloc(b->data, cap);
  if (!data) {
    static const char kOom[] = "podvisor-gpu: out of memory\n";
    (void)!write(STDERR_FILENO, kOom, sizeof kOom - 1);
    _exit(1);
  }
  b->data = data;
  b->cap = cap;
}

static void buf_add(Buf* b, const char* text) {
  const size_t n = strlen(text);
  buf_grow(b, n);
  memcpy(b->data + b->len, text, n + 1);
  b->len += n;
}

__attribute__((format(printf, 2, 3))) static void buf_printf(Buf* b, const char* format, ...) {
  va_list args;
  va_start(args, format);
  const int n = vsnprintf(NULL, 0, format, args);
  va_end(args);
  if (n <= 0) return;
  buf_grow(b, (size_t)n);
  va_start(args, format);
  vsnprintf(b->data + b->len, (size_t)n + 1, format, args);
  va_end(args);
  b->len += (size_t)n;
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void buf_string(Buf* b, const char* text) {
  buf_add(b, "\"");
  for (const unsigned char* c = (const unsigned char*)text; *c; ++c) {
    if (*c == '"' || *c == '\\') {
      buf_printf(b, "\\%c", *c);
    } else if (*c < 0x20) {
      buf_printf(b, "\\u%04x", *c);
    } else {
      buf_grow(b, 1);
      b->data[b->len++] = (char)*c;
      b->data[b->len] = '\0';
    }
  }
  buf_add(b, "\"");
}

/* Lines come from two threads (answers and events); each goes out whole, in one write when
 * the pipe takes it. podvisor gone (EPIPE): nothing is left to do. */
static pthread_mutex_t g_out = PTHREAD_MUTEX_INITIALIZER;

static void emit(Buf* b) {
  buf_add(b, "\n");
  pthread_mutex_lock(&g_out);
  size_t done = 0;
  while (done < b->len) {
    const ssize_t n = write(STDOUT_FILENO, b->data + done, b->len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(0);
    done += (size_t)n;
  }
  pthread_mutex_unlock(&g_out);
  b->len = 0;
  if (b->data) b->data[0] = '\0';
}

/* --- NVML, resolved at run time */

static struct {
  void* lib;
  nvml_void_fn init;
  nvml_error_string_fn error_string;
  nvml_text_fn driver_version, nvml_version;
  nvml_count_fn count;
  nvml_handle_fn handle;
  nvml_device_text_fn name, uuid;
  nvml_device_uint_fn minor;
  nvml_pci_fn pci;
  int pci_plain; /* the plain call fills only the 16-byte legacy bus id */
  nvml_memory_fn memory;
  nvml_memory_v2_fn memory_v2;
  nvml_procs_fn procs[3]; /* _v3, _v2, plain: tried in that order, each stride-checked */
  nvml_utilization_fn utilization;
  nvml_temperature_fn temperature;
  nvml_temperature_v_fn temperature_v;
  nvml_mig_mode_fn mig_mode;
  nvml_event_set_create_fn event_set_create;
  nvml_event_set_free_fn event_set_free;
  nvml_supported_events_fn supported_events;
  nvml_register_events_fn register_events;
  nvml_event_wait_fn event_wait;
  Buf symbols; /* which version each call resolved to, for the hello line */
} N;

static const char* const kSuffixes[] = {"_v3", "_v2", ""};

/* The newest of base_v3, base_v2, base that exists, from `first` (0: _v3, 1: _v2, 2: plain)
 * on; its version goes into the hello line under `label`. */
static void* resolve(const char* base, int first, const char* label, int* which) {
  for (int i = first; i < 3; ++i) {
    char name[96];
    snprintf(name, sizeof name, "%s%s", base, kSuffixes[i]);
    void* f = dlsym(N.lib, name);
    if (!f) continue;
    if (label) {
      buf_printf(&N.symbols, "%s\"%s\":\"%s\"", N.symbols.len > 1 ? "," : "", label,
                 i == 2 ? "v1" : kSuffixes[i] + 1);
    }
    if (which) *which = i;
    return f;
  }
  return NULL;
}

static const char* error_text(nvmlReturn_t r) {
  const char* text = N.error_string ? N.error_string(r) : NULL;
  static _Thread_local char fallback[32];
  if (text) return text;
  snprintf(fallback, sizeof fallback, "NVML error %d", r);
  return fallback;
}

static void fail_hello(const char* reason) {
  Buf b = {0};
  buf_add(&b, "{\"hello\":1,\"nvml\":null,\"reason\":");
  buf_string(&b, reason);
  buf_add(&b, "}");
  emit(&b);
  free(b.data);
  exit(kNoNvml);
}

static void load_nvml(void) {
  N.lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!N.lib) {
    const char* why = dlerror();
    if (why && strstr(why, "cannot open shared object file"))
      fail_hello("libnvidia-ml.so.1 not found");
    fail_hello(why ? why : "libnvidia-ml.so.1 cannot be loaded");
  }
  buf_add(&N.symbols, "{");
  int which = 0;
  N.error_string = (nvml_error_string_fn)resolve("nvmlErrorString", 2, NULL, NULL);
  N.init = (nvml_void_fn)resolve("nvmlInit", 1, "init", NULL);
  N.driver_version = (nvml_text_fn)resolve("nvmlSystemGetDriverVersion", 2, NULL, NULL);
  N.nvml_version = (nvml_text_fn)resolve("nvmlSystemGetNVMLVersion", 2, NULL, NULL);
  N.count = (nvml_count_fn)resolve("nvmlDeviceGetCount", 1, "count", NULL);
  N.handle = (nvml_handle_fn)resolve("nvmlDeviceGetHandleByIndex", 1, "handle", NULL);
  N.name = (nvml_device_text_fn)resolve("nvmlDeviceGetName", 2, NULL, NULL);
  N.uuid = (nvml_device_text_fn)resolve("nvmlDeviceGetUUID", 2, NULL, NULL);
  N.minor = (nvml_device_uint_fn)resolve("nvmlDeviceGetMinorNumber", 2, NULL, NULL);
  N.pci = (nvml_pci_fn)resolve("nvmlDeviceGetPciInfo", 0, "pci", &which);
  N.pci_plain = which == 2;
  N.memory_v2 = (nvml_memory_v2_fn)dlsym(N.lib, "nvmlDeviceGetMemoryInfo_v2");
  N.memory = (nvml_memory_fn)dlsym(N.lib, "nvmlDeviceGetMemoryInfo");
  buf_printf(&N.symbols, ",\"mem\":\"%s\"", N.memory_v2 ? "v2" : N.memory ? "v1" : "none");
  for (int i = 0; i < 3; ++i) {
    char name[96];
    snprintf(name, sizeof name, "nvmlDeviceGetComputeRunningProcesses%s", kSuffixes[i]);
    N.procs[i] = (nvml_procs_fn)dlsym(N.lib, name);
  }
  buf_printf(&N.symbols, ",\"procs\":\"%s\"",
             N.procs[0]   ? "v3"
             : N.procs[1] ? "v2"
             : N.procs[2] ? "v1"
                          : "none");
  N.utilization = (nvml_utilization_fn)dlsym(N.lib, "nvmlDeviceGetUtilizationRates");
  N.temperature_v = (nvml_temperature_v_fn)dlsym(N.lib, "nvmlDeviceGetTemperatureV");
  N.temperature = (nvml_temperature_fn)dlsym(N.lib, "nvmlDeviceGetTemperature");
  buf_printf(&N.symbols, ",\"temp\":\"%s\"", N.temperature_v ? "V" : N.temperature ? "v1" : "none");
  N.mig_mode = (nvml_mig_mode_fn)dlsym(N.lib, "nvmlDeviceGetMigMode");
  N.event_set_create = (nvml_event_set_create_fn)dlsym(N.lib, "nvmlEventSetCreate");
  N.event_set_free = (nvml_event_set_free_fn)dlsym(N.lib, "nvmlEventSetFree");
  N.supported_events = (nvml_supported_events_fn)dlsym(N.lib, "nvmlDeviceGetSupportedEventTypes");
  N.register_events = (nvml_register_events_fn)dlsym(N.lib, "nvmlDeviceRegisterEvents");
  N.event_wait = (nvml_event_wait_fn)resolve("nvmlEventSetWait", 1, "events", NULL);
  buf_add(&N.symbols, "}");
  if (!N.init || !N.count || !N.handle)
    fail_hello("libnvidia-ml.so.1 lacks nvmlInit or nvmlDeviceGetCount");
  const nvmlReturn_t r = N.init();
  if (r != NVML_SUCCESS) {
    char reason[160];
    snprintf(reason, sizeof reason, "nvmlInit: %s", error_text(r));
    fail_hello(reason);
  }
}

/* --- the devices, as found at start (GPUs do not come and go under a running driver) */

static struct {
  unsigned count;
  nvmlDevice_t handle[kMaxGpus];
  int minor[kMaxGpus]; /* -1 when unknown */
  char uuid[kMaxGpus][NVML_DEVICE_UUID_V2_BUFFER_SIZE];
} G;

static void find_devices(void) {
  unsigned count = 0;
  if (N.count(&count) != NVML_SUCCESS) count = 0;
  if (count > kMaxGpus) count = kMaxGpus;
  for (unsigned i = 0; i < count; ++i) {
    G.minor[i] = -1;
    if (N.handle(i, &G.handle[i]) != NVML_SUCCESS) {
      G.handle[i] = NULL;
      continue;
    }
    unsigned minor = 0;
    if (N.minor && N.minor(G.handle[i], &minor) == NVML_SUCCESS) G.minor[i] = (int)minor;
    if (!N.uuid || N.uuid(G.handle[i], G.uuid[i], sizeof G.uuid[i]) != NVML_SUCCESS) {
      G.uuid[i][0] = '\0';
    }
  }
  G.count = count;
}

/* --- per-process memory, with the stride checked (R535's _v3 wrote 32-byte entries into a
 * 24-byte array; one driver was seen writing 16) */

static int plausible(const unsigned char* entries, unsigned n, size_t stride,
                     unsigned long long total, int mig) {
  for (unsigned i = 0; i < n; ++i) {
    const unsigned char* e = entries + i * stride;
    unsigned pid, gi, ci;
    unsigned long long used;
    memcpy(&pid, e, sizeof pid);
    memcpy(&used, e + 8, sizeof used);
    if (pid < 1 || pid > kMaxPid) return 0;
    if (used != NVML_VALUE_NOT_AVAILABLE && total && used > total) return 0;
    if (stride >= 24 && !mig) {
      memcpy(&gi, e + 16, sizeof gi);
      memcpy(&ci, e + 20, sizeof ci);
      if (gi != NVML_NO_INSTANCE || ci != NVML_NO_INSTANCE) return 0;
    }
  }
  return 1;
}

static void add_procs(Buf* b, nvmlDevice_t d, unsigned long long total, int mig) {
  static const size_t kStrides[3][3] = {{24, 32, 16}, {24, 32, 16}, {16, 24, 32}};
  for (int v = 0; v < 3; ++v) {
    if (!N.procs[v]) continue;
    unsigned n = 0;
    nvmlReturn_t r = N.procs[v](d, &n, NULL);
    if (r == NVML_SUCCESS && n == 0) {
      buf_add(b, ",\"procs\":[]");
      return;
    }
    if (r != NVML_ERROR_INSUFFICIENT_SIZE) continue;
    unsigned char* entries = NULL;
    for (int tries = 0; tries < 3 && r == NVML_ERROR_INSUFFICIENT_SIZE; ++tries) {
      n += 8; /* room for processes that start meanwhile */
      free(entries);
      entries = calloc(n, 32);
      if (!entries) return;
      r = N.procs[v](d, &n, entries);
    }
    for (int s = 0; r == NVML_SUCCESS && s < 3; ++s) {
      const size_t stride = kStrides[v][s];
      if (!plausible(entries, n, stride, total, mig)) continue;
      buf_add(b, ",\"procs\":[");
      for (unsigned i = 0; i < n; ++i) {
        unsigned pid;
        unsigned long long used;
        memcpy(&pid, entries + i * stride, sizeof pid);
        memcpy(&used, entries + i * stride + 8, sizeof used);
        buf_printf(b, "%s{\"host_pid\":%u,\"bytes\":", i ? "," : "", pid);
        if (used == NVML_VALUE_NOT_AVAILABLE) {
          buf_add(b, "null}");
        } else {
          buf_printf(b, "%llu}", used);
        }
      }
      buf_add(b, "]");
      free(entries);
      return;
    }
    free(entries);
  }
  buf_add(b, ",\"procs\":null");
}

static void add_device(Buf* b, unsigned i) {
  nvmlDevice_t d = G.handle[i];
  buf_printf(b, "{\"index\":%u", i);
  if (!d) {
    buf_add(b, ",\"error\":\"no handle\"}");
    return;
  }
  if (G.minor[i] >= 0) {
    buf_printf(b, ",\"minor\":%d", G.minor[i]);
  } else {
    buf_add(b, ",\"minor\":null");
  }
  buf_add(b, ",\"uuid\":");
  buf_string(b, G.uuid[i]);
  nvmlPciInfo_t pci;
  memset(&pci, 0, sizeof pci);
  buf_add(b, ",\"bus_id\":");
  if (N.pci && N.pci(d, &pci) == NVML_SUCCESS) {
    pci.busIdLegacy[sizeof pci.busIdLegacy - 1] = '\0';
    pci.busId[sizeof pci.busId - 1] = '\0';
    buf_string(b, N.pci_plain ? pci.busIdLegacy : pci.busId);
  } else {
    buf_add(b, "null");
  }
  char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE] = "";
  if (N.name && N.name(d, name, sizeof name) != NVML_SUCCESS) name[0] = '\0';
  buf_add(b, ",\"name\":");
  buf_string(b, name);
  unsigned mig = 0, pending = 0;
  if (!N.mig_mode || N.mig_mode(d, &mig, &pending) != NVML_SUCCESS) mig = 0;
  buf_printf(b, ",\"mig\":%s", mig == NVML_DEVICE_MIG_ENABLE ? "true" : "false");
  /* _v2 separates the driver's reservation from `used`; v1's `used` includes it. */
  unsigned long long total = 0;
  nvmlMemory_v2_t m2;
  memset(&m2, 0, sizeof m2);
  m2.version = NVML_MEMORY_V2;
  nvmlMemory_t m1;
  nvmlReturn_t r = NVML_ERROR_FUNCTION_NOT_FOUND;
  if (N.memory_v2 && (r = N.memory_v2(d, &m2)) == NVML_SUCCESS) {
    total = m2.total;
    buf_printf(b, ",\"mem\":{\"total\":%llu,\"used\":%llu,\"free\":%llu,\"reserved\":%llu}",
               m2.total, m2.used, m2.free, m2.reserved);
  } else if (N.memory && (r = N.memory(d, &m1)) == NVML_SUCCESS) {
    total = m1.total;
    buf_printf(b, ",\"mem\":{\"total\":%llu,\"used\":%llu,\"free\":%llu}", m1.total, m1.used,
               m1.free);
  } else {
    buf_add(b, ",\"mem\":null,\"mem_error\":");
    buf_string(b, error_text(r));
  }
  nvmlUtilization_t u;
  if (N.utilization && N.utilization(d, &u) == NVML_SUCCESS) {
    buf_printf(b, ",\"util\":%u", u.gpu);
  } else {
    buf_add(b, ",\"util\":null");
  }
  nvmlTemperature_t t;
  memset(&t, 0, sizeof t);
  t.version = NVML_TEMPERATURE_V1;
  t.sensorType = NVML_TEMPERATURE_GPU;
  unsigned celsius = 0;
  if (N.temperature_v && N.temperature_v(d, &t) == NVML_SUCCESS) {
    buf_printf(b, ",\"temp_c\":%d", t.temperature);
  } else if (N.temperature && N.temperature(d, NVML_TEMPERATURE_GPU, &celsius) == NVML_SUCCESS) {
    buf_printf(b, ",\"temp_c\":%u", celsius);
  } else {
    buf_add(b, ",\"temp_c\":null");
  }
  add_procs(b, d, total, mig == NVML_DEVICE_MIG_ENABLE);
  buf_add(b, "}");
}

static void sample(Buf* b, const char* id) {
  buf_printf(b, "{\"id\":%s", id);
  unsigned count = 0;
  const nvmlReturn_t r = N.count(&count);
  if (r != NVML_SUCCESS) {
    buf_add(b, ",\"error\":");
    buf_string(b, error_text(r));
    buf_add(b, "}");
    return;
  }
  buf_add(b, ",\"gpus\":[");
  for (unsigned i = 0; i < G.count; ++i) {
    if (i) buf_add(b, ",");
    add_device(b, i);
  }
  buf_add(b, "]}");
}

/* --- Xid and ECC events: a thread blocked in nvmlEventSetWait, so nothing polls */

static nvmlEventSet_t g_events;

static const char* event_name(unsigned long long type) {
  if (type & NVML_EVENT_XID) return "xid";
  if (type & NVML_EVENT_DBE) return "ecc_dbe";
  if (type & NVML_EVENT_SBE) return "ecc_sbe";
  return "other";
}

static void* wait_events(void* unused) {
  (void)unused;
  Buf b = {0};
  for (;;) {
    nvmlEventData_t data;
    memset(&data, 0, sizeof data);
    const nvmlReturn_t r = N.event_wait(g_events, &data, 3600000);
    if (r == NVML_ERROR_TIMEOUT) continue;
    if (r != NVML_SUCCESS) {
      buf_add(&b, "{\"event\":\"error\",\"error\":");
      buf_string(&b, error_text(r));
      buf_add(&b, "}");
      emit(&b);
      sleep(10); /* a broken event set: say so now and then, never spin */
      continue;
    }
    int index = -1;
    for (unsigned i = 0; i < G.count; ++i) {
      if (G.handle[i] == data.device) index = (int)i;
    }
    buf_printf(&b,
               "{\"event\":\"%s\",\"index\":%d,\"minor\":%d,\"uuid\":", event_name(data.eventType),
               index, index >= 0 ? G.minor[index] : -1);
    buf_string(&b, index >= 0 ? G.uuid[index] : "");
    buf_printf(&b, ",\"data\":%llu}", data.eventData);
    emit(&b);
  }
  return NULL;
}

/* Registers Xid and ECC events on every device that supports them; the hello line's
 * "events" text. NOT_SUPPORTED on a device (no ECC, a MIG handle) is not an error. */
static void start_events(Buf* hello) {
  const unsigned long long wanted = NVML_EVENT_XID | NVML_EVENT_DBE | NVML_EVENT_SBE;
  unsigned long long registered = 0;
  const char* why = NULL;
  if (!N.event_set_create || !N.register_events || !N.event_wait) {
    why = "no event functions";
  } else if (N.event_set_create(&g_events) != NVML_SUCCESS) {
    why = "nvmlEventSetCreate failed";
  } else {
    for (unsigned i = 0; i < G.count; ++i) {
      if (!G.handle[i]) continue;
      unsigned long long types = wanted;
      if (N.supported_events && N.supported_events(G.handle[i], &types) != NVML_SUCCESS) types = 0;
      types &= wanted;
      if (!types) continue;
      const nvmlReturn_t r = N.register_events(G.handle[i], types, g_events);
      if (r == NVML_SUCCESS)
        registered |= types;
      else if (r != NVML_ERROR_NOT_SUPPORTED)
        why = error_text(r);
    }
    if (!registered && !why) why = "no device supports Xid or ECC events";
  }
  buf_add(hello, ",\"events\":");
  pthread_t thread;
  if (registered) {
    int err = pthread_create(&thread, NULL, wait_events, NULL);
    if (err == 0) err = pthread_detach(thread);
    if (err != 0) {
      registered = 0;
      why = strerror(err);
    }
  }
  if (!registered) {
    if (g_events && N.event_set_free) N.event_set_free(g_events);
    char text[200];
    snprintf(text, sizeof text, "not supported: %s", why ? why : "unknown");
    buf_string(hello, text);
    return;
  }
  buf_printf(hello, "\"%s%s%s\"", registered & NVML_EVENT_XID ? "xid" : "",
             registered & NVML_EVENT_DBE ? (registered & NVML_EVENT_XID ? ",dbe" : "dbe") : "",
             registered & NVML_EVENT_SBE
                 ? (registered & (NVML_EVENT_XID | NVML_EVENT_DBE) ? ",sbe" : "sbe")
                 : "");
}

int main(void) {
  /* A closed pipe is an EPIPE from write, handled where the line is written. */
  if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) return 1;
  load_nvml();
  find_devices();
  Buf b = {0};
  char version[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE] = "";
  buf_add(&b, "{\"hello\":1,\"driver\":");
  if (N.driver_version && N.driver_version(version, sizeof version) == NVML_SUCCESS) {
    buf_string(&b, version);
  } else {
    buf_add(&b, "null");
  }
  buf_add(&b, ",\"nvml\":");
  if (N.nvml_version && N.nvml_version(version, sizeof version) == NVML_SUCCESS) {
    buf_string(&b, version);
  } else {
    buf_add(&b, "\"unknown\"");
  }
  buf_printf(&b, ",\"symbols\":%s", N.symbols.data);
  start_events(&b);
  buf_printf(&b, ",\"gpus\":%u}", G.count);
  emit(&b);
  char line[256];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (strcmp(line, "quit") == 0) break;
    char id[32];
    if (sscanf(line, "sample %20[0-9]", id) == 1) {
      sample(&b, id);
    } else {
      buf_add(&b, "{\"error\":\"unknown command\",\"command\":");
      buf_string(&b, line);
      buf_add(&b, "}");
    }
    emit(&b);
  }
  /* The event thread may sit in the driver for an hour: leave without joining it. */
  _exit(0);
}
