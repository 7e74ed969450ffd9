#include "gpu/programs.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "gpu/status.h"

namespace podvisor::gpu {

void attribute_memory(std::vector<Holder>& holders, const Sample& sample) {
  std::map<int, std::vector<ProcessMemory>> listed;  // by minor
  for (const auto& g : sample.gpus) {
    if (g.minor && g.procs) listed[*g.minor] = *g.procs;
  }
  const auto lists = [&](pid_t pid) {
    for (const auto& [minor, procs] : listed) {
      for (const auto& p : procs) {
        if (p.host_pid == pid) return true;
      }
    }
    return false;
  };
  const bool host_pids = std::any_of(holders.begin(), holders.end(),
                                     [&](const Holder& h) { return lists(h.proc.pid); });
  for (auto& h : holders) {
    if (!h.holding.gpu()) continue;
    std::optional<uint64_t> sum;
    bool unknown = false;
    for (const int m : h.holding.minors) {
      const auto it = listed.find(m);
      if (it == listed.end()) {
        unknown = true;
        continue;
      }
      const auto& procs = it->second;
      const auto own = std::find_if(procs.begin(), procs.end(), [&](const ProcessMemory& p) {
        return p.host_pid == h.proc.pid;
      });
      const auto on_gpu = std::count_if(holders.begin(), holders.end(), [&](const Holder& o) {
        return std::find(o.holding.minors.begin(), o.holding.minors.end(), m) !=
               o.holding.minors.end();
      });
      std::optional<uint64_t> bytes;
      if (own != procs.end()) {
        bytes = own->bytes;
      } else if (host_pids) {
        bytes = 0;  // the same pids as NVML's, and not in its list: no context on this GPU
      } else if (procs.size() == 1 && on_gpu == 1) {
        bytes = procs.front().bytes;
      }
      if (!bytes) {
        unknown = true;
        continue;
      }
      sum = sum.value_or(0) + *bytes;
    }
    if (!unknown) h.memory_bytes = sum;
  }
}

std::vector<ProgramGpu> per_program(const std::vector<Holder>& holders) {
  std::vector<ProgramGpu> out;
  for (const auto& h : holders) {
    if (h.program.empty() || !h.holding.gpu()) continue;
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const ProgramGpu& p) { return p.program == h.program; });
    if (it == out.end()) {
      out.push_back({h.program, 0, uint64_t{0}});
      it = out.end() - 1;
    }
    ++it->holders;
    if (!h.memory_bytes) {
      it->memory.reset();
    } else if (it->memory) {
      *it->memory += *h.memory_bytes;
    }
  }
  return out;
}

std::string render_program_gpu_metrics(
    const std::vector<ProgramGpu>& programs,
    const std::function<std::string(const std::string&)>& group_of) {
  if (programs.empty()) return "";
  const auto labels = [&](const ProgramGpu& p) {
    return fmt::format("{{group=\"{}\",program=\"{}\"}}", escape_label(group_of(p.program)),
                       escape_label(p.program));
  };
  std::string out =
      "# HELP podvisor_program_gpu_holders Processes of the program (its tree or leftovers of its "
      "last run) holding an NVIDIA GPU node.\n# TYPE podvisor_program_gpu_holders gauge\n";
  for (const auto& p : programs)
    out += fmt::format("podvisor_program_gpu_holders{} {}\n", labels(p), p.holders);
  out +=
      "# HELP podvisor_program_gpu_memory_bytes GPU memory NVML charges to the program's "
      "processes, where it can be told whose it is.\n# TYPE podvisor_program_gpu_memory_bytes "
      "gauge\n";
  for (const auto& p : programs) {
    if (p.memory)
      out += fmt::format("podvisor_program_gpu_memory_bytes{} {}\n", labels(p), *p.memory);
  }
  return out;
}

}  // namespace podvisor::gpu
