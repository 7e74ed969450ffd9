/* Holds GPU memory the way an inference server's worker does, for bench/gpu.sh: loads
 * libcuda.so.1 with dlopen (no CUDA headers or toolkit), allocates --gib N on GPU 0 and writes
 * it so it is really committed, then sleeps. --setsid-worker forks a child that calls setsid()
 * before touching CUDA and holds the memory while the parent exits 1 after --exit-after S: the
 * orphan a supervisor's restart runs into. --ignore-term ignores SIGTERM (the fence's SIGKILL). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int CUresult; /* 0 = CUDA_SUCCESS, 2 = CUDA_ERROR_OUT_OF_MEMORY */
typedef int CUdevice;
typedef struct CUctx_st* CUcontext;
typedef unsigned long long CUdeviceptr;

static struct {
  CUresult (*init)(unsigned);
  CUresult (*device_get)(CUdevice*, int);
  CUresult (*primary_ctx_retain)(CUcontext*, CUdevice);
  CUresult (*ctx_set_current)(CUcontext);
  CUresult (*mem_get_info)(size_t*, size_t*);
  CUresult (*mem_alloc)(CUdeviceptr*, size_t);
  CUresult (*memset_d8)(CUdeviceptr, unsigned char, size_t);
  CUresult (*error_string)(CUresult, const char**);
} cu;

static void* need(void* lib, const char* name) {
  void* f = dlsym(lib, name);
  if (!f) {
    fprintf(stderr, "gpu_hold: libcuda.so.1 has no %s\n", name);
    exit(3);
  }
  return f;
}

static void check(CUresult r, const char* what) {
  if (r == 0) return;
  const char* text = "unknown";
  if (cu.error_string) cu.error_string(r, &text);
  fprintf(stderr, "gpu_hold: %s failed: %s (CUresult %d)\n", what, text, r);
  exit(r == 2 ? 2 : 4);
}

static void hold(double gib) {
  void* lib = dlopen("libcuda.so.1", RTLD_NOW);
  if (!lib) {
    fprintf(stderr, "gpu_hold: %s\n", dlerror());
    exit(3);
  }
  *(void**)&cu.init = need(lib, "cuInit");
  *(void**)&cu.device_get = need(lib, "cuDeviceGet");
  *(void**)&cu.primary_ctx_retain = need(lib, "cuDevicePrimaryCtxRetain");
  *(void**)&cu.ctx_set_current = need(lib, "cuCtxSetCurrent");
  *(void**)&cu.mem_get_info = need(lib, "cuMemGetInfo_v2");
  *(void**)&cu.mem_alloc = need(lib, "cuMemAlloc_v2");
  *(void**)&cu.memset_d8 = need(lib, "cuMemsetD8_v2");
  *(void**)&cu.error_string = dlsym(lib, "cuGetErrorString");
  CUdevice device;
  CUcontext context;
  check(cu.init(0), "cuInit");
  check(cu.device_get(&device, 0), "cuDeviceGet");
  check(cu.primary_ctx_retain(&context, device), "cuDevicePrimaryCtxRetain");
  check(cu.ctx_set_current(context), "cuCtxSetCurrent");
  size_t free_bytes = 0, total = 0;
  check(cu.mem_get_info(&free_bytes, &total), "cuMemGetInfo_v2");
  const size_t bytes = (size_t)(gib * 1073741824.0);
  fprintf(stderr, "gpu_hold: pid %d: %.1f GiB free of %.1f GiB; allocating %.1f GiB\n", getpid(),
          free_bytes / 1073741824.0, total / 1073741824.0, gib);
  CUdeviceptr p;
  check(cu.mem_alloc(&p, bytes), "cuMemAlloc_v2");
  check(cu.memset_d8(p, 1, bytes), "cuMemsetD8_v2");
  fprintf(stderr, "gpu_hold: pid %d holds %.1f GiB on GPU 0\n", getpid(), gib);
}

int main(int argc, char** argv) {
  double gib = 1, exit_after = 0;
  int setsid_worker = 0;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--gib") == 0 && i + 1 < argc) {
      gib = atof(argv[++i]);
    } else if (strcmp(argv[i], "--exit-after") == 0 && i + 1 < argc) {
      exit_after = atof(argv[++i]);
    } else if (strcmp(argv[i], "--setsid-worker") == 0) {
      setsid_worker = 1;
    } else if (strcmp(argv[i], "--ignore-term") == 0) {
      if (signal(SIGTERM, SIG_IGN) == SIG_ERR) return 1;
    } else {
      fprintf(stderr,
              "usage: gpu_hold [--gib N] [--setsid-worker] [--exit-after S] [--ignore-term]\n");
      return 64;
    }
  }
  if (setsid_worker) {
    const pid_t child = fork();
    if (child < 0) {
      perror("gpu_hold: fork");
      return 1;
    }
    if (child == 0) {
      if (setsid() < 0) perror("gpu_hold: setsid");
      hold(gib);
      for (;;) pause();
    }
    fprintf(stderr, "gpu_hold: server pid %d, setsid worker pid %d\n", getpid(), child);
    if (exit_after > 0)
      usleep((useconds_t)(exit_after * 1e6));
    else
      for (;;) pause();
    fprintf(stderr, "gpu_hold: server pid %d exits; its worker keeps the memory\n", getpid());
    return 1;
  }
  hold(gib);
  if (exit_after > 0) {
    usleep((useconds_t)(exit_after * 1e6));
    return 1;
  }
  for (;;) pause();
}
