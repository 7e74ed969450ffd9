// The NVML companion's protocol (tools/podvisor-gpu): the commands podvisor writes and the
// JSON lines it reads back (hello, sample replies, Xid/ECC events), as plain structs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace podvisor::gpu {

struct ProcessMemory {
  int64_t host_pid = 0;           // a pid of the host's namespace (NVML knows no other)
  std::optional<uint64_t> bytes;  // nullopt: NVML could not tell
  bool operator==(const ProcessMemory&) const = default;
};

struct Memory {
  uint64_t total = 0, used = 0, free = 0;
  std::optional<uint64_t> reserved;  // the driver's share, outside `used` (NVML's _v2 call)
  bool operator==(const Memory&) const = default;
};

struct Gpu {
  unsigned index = 0;        // NVML's (bus order among the visible GPUs)
  std::optional<int> minor;  // N of /dev/nvidiaN
  std::string uuid, bus_id, name;
  bool mig = false;
  std::optional<Memory> mem;     // nullopt: unreadable (mem_error says why)
  std::optional<unsigned> util;  // percent
  std::optional<int> temp_c;
  std::optional<std::vector<ProcessMemory>> procs;
  std::string error;  // why this GPU could not be read at all ("" when it could)
};

struct Sample {
  std::vector<Gpu> gpus;
};

// The first line: what was loaded, or why NVML is not there (then the companion exits 3).
struct Hello {
  bool nvml = false;
  std::string reason;                          // without NVML
  std::string driver, version;                 // "575.57.08", "12.575.57"
  std::map<std::string, std::string> symbols;  // call → version resolved ("procs" → "v3")
  std::string events;                          // "xid,dbe,sbe" or "not supported: ..."
  unsigned gpus = 0;
};

// The answer to `sample <id>`: the sample, or NVML's error text.
struct Reply {
  uint64_t id = 0;
  std::optional<Sample> sample;
  std::string error;
};

enum class EventKind { kXid, kEccSingleBit, kEccDoubleBit, kOther, kError };

struct Event {
  EventKind kind = EventKind::kOther;
  int index = -1;  // NVML's index; -1 when the device was not recognised
  int minor = -1;
  std::string uuid;
  uint64_t data = 0;  // the Xid (999: unknown)
  std::string error;  // kError: the event set failed
};

// A line that is none of these (a defect on either side), with why.
struct Unreadable {
  std::string why;
};

using Message = std::variant<Hello, Reply, Event, Unreadable>;

// One line of the companion's output (without its newline).
Message parse_line(std::string_view line);
// The request for sample `id`, newline included.
std::string sample_command(uint64_t id);

// Xids that name an application's fault rather than the GPU's (k8s-device-plugin's list:
// 13, 31, 43, 45, 68, 109); any other makes podvisor unhealthy.
bool critical_xid(uint64_t xid);

// "20.0 GiB": binary gibibytes with one decimal, as the log lines print memory.
std::string gib(uint64_t bytes);

}  // namespace podvisor::gpu
