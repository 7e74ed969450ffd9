/* The part of NVML's ABI that podvisor-gpu uses, declared here so the build needs no NVIDIA
 * package (Debian's libnvidia-ml-dev is non-free and CUDA 11.8-era). Values and layouts are
 * those of nvml.h, NVML_API_VERSION 13 (NVIDIA/go-nvml gen/nvml/nvml.h); the fake library in
 * tests/fake_nvml implements the same declarations. */
#ifndef PODVISOR_NVML_ABI_H
#define PODVISOR_NVML_ABI_H

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st* nvmlDevice_t;
typedef struct nvmlEventSet_st* nvmlEventSet_t;

enum {
  NVML_SUCCESS = 0,
  NVML_ERROR_UNINITIALIZED = 1,
  NVML_ERROR_INVALID_ARGUMENT = 2,
  NVML_ERROR_NOT_SUPPORTED = 3,
  NVML_ERROR_NO_PERMISSION = 4,
  NVML_ERROR_NOT_FOUND = 6,
  NVML_ERROR_INSUFFICIENT_SIZE = 7,
  NVML_ERROR_DRIVER_NOT_LOADED = 9,
  NVML_ERROR_TIMEOUT = 10,
  NVML_ERROR_FUNCTION_NOT_FOUND = 13,
  NVML_ERROR_GPU_IS_LOST = 15,
  NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
  NVML_ERROR_UNKNOWN = 999,
};

#define NVML_DEVICE_NAME_V2_BUFFER_SIZE 96
#define NVML_DEVICE_UUID_V2_BUFFER_SIZE 96
#define NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE 80
#define NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE 80
#define NVML_TEMPERATURE_GPU 0
#define NVML_DEVICE_MIG_ENABLE 1
#define NVML_VALUE_NOT_AVAILABLE (~0ULL)
#define NVML_NO_INSTANCE 0xFFFFFFFFu

/* Event types (nvmlEventType*). */
#define NVML_EVENT_SBE 0x1ULL /* nvmlEventTypeSingleBitEccError */
#define NVML_EVENT_DBE 0x2ULL /* nvmlEventTypeDoubleBitEccError */
#define NVML_EVENT_XID 0x8ULL /* nvmlEventTypeXidCriticalError */

/* nvmlPciInfo_t of _v2/_v3; the plain (v1) call fills a busId[16] at the same offset as
 * busIdLegacy, so a reader of the plain call reads that field. */
typedef struct {
  char busIdLegacy[16];
  unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
  char busId[32];
} nvmlPciInfo_t;

typedef struct {
  unsigned long long total, free, used;
} nvmlMemory_t;

/* nvmlMemory_v2_t: `version` must be nvmlMemory_v2 (sizeof | 2 << 24). */
typedef struct {
  unsigned int version;
  unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;
#define NVML_MEMORY_V2 ((unsigned int)(sizeof(nvmlMemory_v2_t) | (2u << 24)))

typedef struct {
  unsigned int gpu, memory;
} nvmlUtilization_t;

/* nvmlTemperature_t of nvmlDeviceGetTemperatureV (API 13). */
typedef struct {
  unsigned int version;
  int sensorType;
  int temperature;
} nvmlTemperature_t;
#define NVML_TEMPERATURE_V1 ((unsigned int)(sizeof(nvmlTemperature_t) | (1u << 24)))

/* Process entries: 16 bytes from the plain call, 24 from _v2 and (mostly) _v3; R535's _v3
 * wrote 32 (with usedGpuCcProtectedMemory). Readers validate the stride (main.c). */
typedef struct {
  unsigned int pid;
  unsigned long long usedGpuMemory;
} nvmlProcessInfo_v1_t;
typedef struct {
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_v2_t;
typedef struct {
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId, computeInstanceId;
  unsigned long long usedGpuCcProtectedMemory;
} nvmlProcessInfo_r535_t;

/* nvmlEventData_t; the plain nvmlEventSetWait fills only the first three fields. */
typedef struct {
  nvmlDevice_t device;
  unsigned long long eventType;
  unsigned long long eventData;
  unsigned int gpuInstanceId, computeInstanceId;
} nvmlEventData_t;

/* Function types, named after the call they point to. */
typedef nvmlReturn_t (*nvml_void_fn)(void);
typedef const char* (*nvml_error_string_fn)(nvmlReturn_t);
typedef nvmlReturn_t (*nvml_text_fn)(char*, unsigned int);
typedef nvmlReturn_t (*nvml_count_fn)(unsigned int*);
typedef nvmlReturn_t (*nvml_handle_fn)(unsigned int, nvmlDevice_t*);
typedef nvmlReturn_t (*nvml_device_text_fn)(nvmlDevice_t, char*, unsigned int);
typedef nvmlReturn_t (*nvml_device_uint_fn)(nvmlDevice_t, unsigned int*);
typedef nvmlReturn_t (*nvml_pci_fn)(nvmlDevice_t, nvmlPciInfo_t*);
typedef nvmlReturn_t (*nvml_memory_fn)(nvmlDevice_t, nvmlMemory_t*);
typedef nvmlReturn_t (*nvml_memory_v2_fn)(nvmlDevice_t, nvmlMemory_v2_t*);
typedef nvmlReturn_t (*nvml_procs_fn)(nvmlDevice_t, unsigned int*, void*);
typedef nvmlReturn_t (*nvml_utilization_fn)(nvmlDevice_t, nvmlUtilization_t*);
typedef nvmlReturn_t (*nvml_temperature_fn)(nvmlDevice_t, int, unsigned int*);
typedef nvmlReturn_t (*nvml_temperature_v_fn)(nvmlDevice_t, nvmlTemperature_t*);
typedef nvmlReturn_t (*nvml_mig_mode_fn)(nvmlDevice_t, unsigned int*, unsigned int*);
typedef nvmlReturn_t (*nvml_event_set_create_fn)(nvmlEventSet_t*);
typedef nvmlReturn_t (*nvml_event_set_free_fn)(nvmlEventSet_t);
typedef nvmlReturn_t (*nvml_supported_events_fn)(nvmlDevice_t, unsigned long long*);
typedef nvmlReturn_t (*nvml_register_events_fn)(nvmlDevice_t, unsigned long long, nvmlEventSet_t);
typedef nvmlReturn_t (*nvml_event_wait_fn)(nvmlEventSet_t, nvmlEventData_t*, unsigned int);

#endif
