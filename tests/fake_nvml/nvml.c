/* A fake libnvidia-ml.so.1 for the companion's tests: the calls podvisor-gpu makes, answered
 * from the fixture file named by $FAKE_NVML_FIXTURE (read again at each device count, so a
 * test can change it), with events read from the FIFO named by $FAKE_NVML_EVENTS: a line
 * "xid 79 0" delivers Xid 79 on GPU 0 ("dbe 0 1", "sbe 0 1" the ECC events). Built twice:
 * in full, and with -DNO_V3, an old driver without the _v2/_v3 symbols.
 *
 * Fixture lines: "driver V", "nvml V", "stride N" (bytes per entry _v3 writes: 24, or R535's
 * 32), "init_error N", then per GPU "gpu" followed by "name", "uuid", "minor", "bus",
 * "memory TOTAL USED", "util PCT", "temp C", "mig 0|1", "events MASK", "proc PID BYTES". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../tools/podvisor-gpu/nvml_abi.h"

#define EXPORT __attribute__((visibility("default")))

enum { kMaxGpus = 8, kMaxProcs = 16 };

typedef struct {
  char name[96], uuid[96], bus[32];
  unsigned minor, util, mig;
  int temp;
  unsigned long long total, used, events;
  unsigned procs;
  unsigned pid[kMaxProcs];
  unsigned long long bytes[kMaxProcs];
} Gpu;

static struct {
  char driver[80], nvml[80];
  unsigned stride, count;
  int init_error;
  Gpu gpu[kMaxGpus];
} F;

/* The event thread reads the devices while a sample reloads them. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static int load_locked(void);
static int load(void) {
  pthread_mutex_lock(&g_lock);
  const int r = load_locked();
  pthread_mutex_unlock(&g_lock);
  return r;
}

static int load_locked(void) {
  const char* path = getenv("FAKE_NVML_FIXTURE");
  FILE* in = path ? fopen(path, "r") : NULL;
  if (!in) return NVML_ERROR_DRIVER_NOT_LOADED;
  memset(&F, 0, sizeof F);
  F.stride = 24;
  char line[256];
  Gpu* g = NULL;
  while (fgets(line, sizeof line, in)) {
    line[strcspn(line, "\n")] = '\0';
    char* value = strchr(line, ' ');
    if (value)
      *value++ = '\0';
    else
      value = line + strlen(line);
    if (strcmp(line, "gpu") == 0 && F.count < kMaxGpus) {
      g = &F.gpu[F.count++];
      g->events = NVML_EVENT_XID | NVML_EVENT_DBE | NVML_EVENT_SBE;
    } else if (strcmp(line, "driver") == 0) {
      snprintf(F.driver, sizeof F.driver, "%s", value);
    } else if (strcmp(line, "nvml") == 0) {
      snprintf(F.nvml, sizeof F.nvml, "%s", value);
    } else if (strcmp(line, "stride") == 0) {
      F.stride = (unsigned)strtoul(value, NULL, 10);
    } else if (strcmp(line, "init_error") == 0) {
      F.init_error = atoi(value);
    } else if (!g) {
      continue;
    } else if (strcmp(line, "name") == 0) {
      snprintf(g->name, sizeof g->name, "%s", value);
    } else if (strcmp(line, "uuid") == 0) {
      snprintf(g->uuid, sizeof g->uuid, "%s", value);
    } else if (strcmp(line, "bus") == 0) {
      snprintf(g->bus, sizeof g->bus, "%s", value);
    } else if (strcmp(line, "minor") == 0) {
      g->minor = (unsigned)strtoul(value, NULL, 10);
    } else if (strcmp(line, "memory") == 0) {
      sscanf(value, "%llu %llu", &g->total, &g->used);
    } else if (strcmp(line, "util") == 0) {
      g->util = (unsigned)strtoul(value, NULL, 10);
    } else if (strcmp(line, "temp") == 0) {
      g->temp = atoi(value);
    } else if (strcmp(line, "mig") == 0) {
      g->mig = (unsigned)strtoul(value, NULL, 10);
    } else if (strcmp(line, "events") == 0) {
      g->events = strtoull(value, NULL, 0);
    } else if (strcmp(line, "proc") == 0 && g->procs < kMaxProcs) {
      sscanf(value, "%u %llu", &g->pid[g->procs], &g->bytes[g->procs]);
      g->procs++;
    }
  }
  fclose(in);
  return NVML_SUCCESS;
}

static Gpu* gpu_of(nvmlDevice_t d) {
  Gpu* g = (Gpu*)d;
  return g >= F.gpu && g < F.gpu + F.count ? g : NULL;
}

EXPORT nvmlReturn_t nvmlInit(void) {
  const int r = load();
  return r != NVML_SUCCESS ? r : F.init_error;
}
EXPORT nvmlReturn_t nvmlShutdown(void) { return NVML_SUCCESS; }
EXPORT const char* nvmlErrorString(nvmlReturn_t r) {
  switch (r) {
    case NVML_SUCCESS:
      return "Success";
    case NVML_ERROR_NOT_SUPPORTED:
      return "Not Supported";
    case NVML_ERROR_DRIVER_NOT_LOADED:
      return "Driver Not Loaded";
    case NVML_ERROR_GPU_IS_LOST:
      return "GPU is lost";
    case NVML_ERROR_TIMEOUT:
      return "Timeout";
    default:
      return "Unknown Error";
  }
}

static nvmlReturn_t copy_text(char* out, unsigned len, const char* text) {
  if (strlen(text) + 1 > len) return NVML_ERROR_INSUFFICIENT_SIZE;
  memcpy(out, text, strlen(text) + 1);
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char* out, unsigned len) {
  return copy_text(out, len, F.driver);
}
EXPORT nvmlReturn_t nvmlSystemGetNVMLVersion(char* out, unsigned len) {
  return copy_text(out, len, F.nvml);
}
EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned* count) {
  const int r = load();
  if (r != NVML_SUCCESS) return r;
  *count = F.count;
  return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned i, nvmlDevice_t* d) {
  if (i >= F.count) return NVML_ERROR_INVALID_ARGUMENT;
  *d = (nvmlDevice_t)&F.gpu[i];
  return NVML_SUCCESS;
}

#define DEVICE(d)     \
  Gpu* g = gpu_of(d); \
  if (!g) return NVML_ERROR_INVALID_ARGUMENT

EXPORT nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t d, unsigned* minor) {
  DEVICE(d);
  *minor = g->minor;
  return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char* out, unsigned len) {
  DEVICE(d);
  return copy_text(out, len, g->name);
}
EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char* out, unsigned len) {
  DEVICE(d);
  return copy_text(out, len, g->uuid);
}
EXPORT nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t d, nvmlPciInfo_t* pci) {
  DEVICE(d);
  /* The plain call's busId[16]: the 4-digit domain form. */
  snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%s", g->bus + 4);
  return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t* m) {
  DEVICE(d);
  m->total = g->total;
  m->used = g->used;
  m->free = g->total - g->used;
  return NVML_SUCCESS;
}

/* The plain call writes 16-byte entries. */
static nvmlReturn_t procs(nvmlDevice_t d, unsigned* count, void* out, unsigned stride) {
  DEVICE(d);
  if (*count < g->procs) {
    *count = g->procs;
    return g->procs ? NVML_ERROR_INSUFFICIENT_SIZE : NVML_SUCCESS;
  }
  unsigned char* e = out;
  for (unsigned i = 0; i < g->procs; ++i, e += stride) {
    memset(e, 0, stride);
    memcpy(e, &g->pid[i], sizeof g->pid[i]);
    memcpy(e + 8, &g->bytes[i], sizeof g->bytes[i]);
    if (stride >= 24) {
      const unsigned none = g->mig ? 0 : NVML_NO_INSTANCE;
      memcpy(e + 16, &none, sizeof none);
      memcpy(e + 20, &none, sizeof none);
    }
  }
  *count = g->procs;
  return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t d, unsigned* n, void* o) {
  return procs(d, n, o, 16);
}
EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t* u) {
  DEVICE(d);
  u->gpu = g->util;
  u->memory = 0;
  return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned* t) {
  DEVICE(d);
  if (sensor != NVML_TEMPERATURE_GPU) return NVML_ERROR_INVALID_ARGUMENT;
  *t = (unsigned)g->temp;
  return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned* current, unsigned* pending) {
  DEVICE(d);
  *current = *pending = g->mig;
  return NVML_SUCCESS;
}

/* --- events */

static int g_fifo = -1;
static char g_pending[256];
static size_t g_pending_len;

EXPORT nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t* set) {
  static int one;
  *set = (nvmlEventSet_t)&one;
  return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set) {
  (void)set;
  return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t d, unsigned long long* types) {
  DEVICE(d);
  *types = g->events;
  return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t d, unsigned long long types,
                                             nvmlEventSet_t set) {
  (void)set;
  DEVICE(d);
  return (types & ~g->events) ? NVML_ERROR_NOT_SUPPORTED : NVML_SUCCESS;
}

/* One line from the FIFO, waiting up to timeout_ms; 0 on timeout. */
static int next_line(char* line, size_t size, unsigned timeout_ms) {
  for (;;) {
    char* nl = memchr(g_pending, '\n', g_pending_len);
    if (nl) {
      const size_t n = (size_t)(nl - g_pending);
      snprintf(line, size, "%.*s", (int)n, g_pending);
      memmove(g_pending, nl + 1, g_pending_len - n - 1);
      g_pending_len -= n + 1;
      return 1;
    }
    struct pollfd p = {g_fifo, POLLIN, 0};
    const int ready = poll(&p, g_fifo >= 0 ? 1 : 0, (int)timeout_ms);
    if (ready <= 0) return 0;
    if (g_pending_len == sizeof g_pending) g_pending_len = 0;
    const ssize_t got = read(g_fifo, g_pending + g_pending_len, sizeof g_pending - g_pending_len);
    if (got <= 0) return 0;
    g_pending_len += (size_t)got;
  }
}

static nvmlReturn_t wait_event(nvmlEventData_t* data, unsigned timeout_ms, int with_instances) {
  const char* path = getenv("FAKE_NVML_EVENTS");
  /* Read and write: no end of file when a test's writer closes it. */
  if (g_fifo < 0 && path) g_fifo = open(path, O_RDWR | O_CLOEXEC);
  char line[128], type[16];
  unsigned long long value = 0;
  unsigned index = 0;
  while (next_line(line, sizeof line, timeout_ms)) {
    pthread_mutex_lock(&g_lock);
    const unsigned count = F.count;
    pthread_mutex_unlock(&g_lock);
    if (sscanf(line, "%15s %llu %u", type, &value, &index) != 3 || index >= count) continue;
    data->device = (nvmlDevice_t)&F.gpu[index];
    data->eventType = strcmp(type, "xid") == 0   ? NVML_EVENT_XID
                      : strcmp(type, "dbe") == 0 ? NVML_EVENT_DBE
                                                 : NVML_EVENT_SBE;
    data->eventData = value;
    if (with_instances) data->gpuInstanceId = data->computeInstanceId = NVML_NO_INSTANCE;
    return NVML_SUCCESS;
  }
  return NVML_ERROR_TIMEOUT;
}

/* The plain call's struct ends after eventData. */
EXPORT nvmlReturn_t nvmlEventSetWait(nvmlEventSet_t set, nvmlEventData_t* data, unsigned ms) {
  (void)set;
  return wait_event(data, ms, 0);
}

#ifndef NO_V3
EXPORT nvmlReturn_t nvmlInit_v2(void) { return nvmlInit(); }
EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned* count) { return nvmlDeviceGetCount(count); }
EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned i, nvmlDevice_t* d) {
  return nvmlDeviceGetHandleByIndex(i, d);
}
EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t* pci) {
  DEVICE(d);
  memset(pci, 0, sizeof *pci);
  snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%s", g->bus + 4);
  snprintf(pci->busId, sizeof pci->busId, "%s", g->bus);
  return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, nvmlMemory_v2_t* m) {
  DEVICE(d);
  if (m->version != NVML_MEMORY_V2) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  m->total = g->total;
  m->reserved = 0;
  m->used = g->used;
  m->free = g->total - g->used;
  return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t d, unsigned* n, void* o) {
  return procs(d, n, o, 24);
}
EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned* n, void* o) {
  return procs(d, n, o, F.stride);
}
EXPORT nvmlReturn_t nvmlDeviceGetTemperatureV(nvmlDevice_t d, nvmlTemperature_t* t) {
  DEVICE(d);
  if (t->version != NVML_TEMPERATURE_V1) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  t->temperature = g->temp;
  return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t* data, unsigned ms) {
  (void)set;
  return wait_event(data, ms, 1);
}
#endif
