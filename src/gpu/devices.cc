#include "gpu/devices.h"

#include <dirent.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

namespace podvisor::gpu {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "0000:19:00.0" and NVML's "00000000:19:00.0" name one device: compare the last 12.
std::string bus_key(std::string_view bus_id) {
  const auto l = lower(bus_id);
  return l.size() > 12 ? l.substr(l.size() - 12) : l;
}

std::optional<int> parse_number(std::string_view s, int max) {
  if (s.empty() || s.size() > 6) return std::nullopt;
  int n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n <= max ? std::optional(n) : std::nullopt;
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') out.emplace_back(e->d_name);
  }
  ::closedir(d);
  return out;
}

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  return std::string(v);
}

std::vector<std::string_view> split_commas(std::string_view s) {
  std::vector<std::string_view> out;
  while (true) {
    const auto comma = s.find(',');
    out.push_back(trim(s.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace

Paths Paths::from_environment() {
  Paths p;
  if (auto d = env("PODVISOR_GPU_DEVICE_DIR"); d && !d->empty()) p.device_dir = *d;
  if (auto d = env("PODVISOR_GPU_PROC_DIR"); d && !d->empty()) p.proc_dir = *d;
  return p;
}

std::optional<ProcGpu> parse_information(std::string_view text, std::string_view dir_name) {
  ProcGpu gpu;
  gpu.bus_id = lower(dir_name);
  bool has_minor = false;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const auto key = trim(std::string_view(line).substr(0, colon));
    const auto value = trim(std::string_view(line).substr(colon + 1));
    if (key == "Model") {
      gpu.model = value;
    } else if (key == "GPU UUID") {
      gpu.uuid = value;
    } else if (key == "Bus Location") {
      gpu.bus_id = lower(value);
    } else if (key == "Device Minor") {
      const auto minor = parse_number(value, static_cast<int>(kMaxGpuMinor));
      if (!minor) return std::nullopt;
      gpu.minor = *minor;
      has_minor = true;
    }
  }
  if (!has_minor) return std::nullopt;
  return gpu;
}

Devices find_devices(const Paths& paths) {
  Devices out;
  for (const auto& name : entries(paths.device_dir)) {
    if (name == "nvidiactl") {
      out.ctl = true;
    } else if (name == "nvidia-uvm") {
      out.uvm = true;
    } else if (name.starts_with("nvidia")) {
      if (auto m = parse_number(std::string_view(name).substr(6), static_cast<int>(kMaxGpuMinor))) {
        out.minors.push_back(*m);
      }
    }
  }
  std::sort(out.minors.begin(), out.minors.end());
  const auto gpus_dir = paths.proc_dir + "/gpus";
  for (const auto& bus : entries(gpus_dir)) {
    std::ifstream in(fmt::format("{}/{}/information", gpus_dir, bus));
    if (!in) continue;
    std::stringstream text;
    text << in.rdbuf();
    if (auto gpu = parse_information(text.str(), bus)) out.gpus.push_back(std::move(*gpu));
  }
  std::sort(out.gpus.begin(), out.gpus.end(), [](const ProcGpu& a, const ProcGpu& b) {
    return bus_key(a.bus_id) < bus_key(b.bus_id);
  });
  return out;
}

const ProcGpu* Devices::find(int minor) const {
  for (const auto& g : gpus) {
    if (g.minor == minor) return &g;
  }
  return nullptr;
}

std::string gpu_label(int minor) { return fmt::format("GPU {}", minor); }

std::string Devices::describe(int minor) const {
  const auto* g = find(minor);
  if (!g) return gpu_label(minor);
  return fmt::format("{} {} ({})", gpu_label(minor), g->model.empty() ? "NVIDIA GPU" : g->model,
                     g->bus_id);
}

Visible visible_minors(const Devices& devices, std::optional<std::string_view> cuda,
                       std::optional<std::string_view> nvidia, bool pci_bus_order) {
  Visible out;
  // The nodes in the container are already the assigned GPUs: NVIDIA_VISIBLE_DEVICES only
  // says "none" here (driver mounted, no GPU).
  std::vector<int> pool;
  if (!(nvidia && lower(trim(*nvidia)) == "none")) {
    if (!devices.gpus.empty()) {
      for (const auto& g : devices.gpus) {
        if (std::binary_search(devices.minors.begin(), devices.minors.end(), g.minor) ||
            devices.minors.empty()) {
          pool.push_back(g.minor);
        }
      }
    } else {
      pool = devices.minors;
    }
  }
  if (!cuda) {
    out.minors = pool;
    return out;
  }
  std::map<std::string, int> models;
  for (const auto& g : devices.gpus) ++models[g.model];
  bool warned = false;
  // CUDA enumerates in list order and stops at the first entry it cannot resolve.
  for (const auto entry : split_commas(*cuda)) {
    if (entry.empty()) break;
    std::optional<int> minor;
    if (auto index = parse_number(entry, 1 << 20)) {
      if (static_cast<size_t>(*index) < pool.size()) minor = pool[static_cast<size_t>(*index)];
      if (minor && !pci_bus_order && models.size() > 1 && !warned) {
        warned = true;
        out.warning = fmt::format(
            "CUDA_VISIBLE_DEVICES={} counts GPUs of different models: without "
            "CUDA_DEVICE_ORDER=PCI_BUS_ID, CUDA's order may differ from the bus order used here",
            *cuda);
      }
    } else {
      const auto wanted = lower(entry);
      for (const auto& g : devices.gpus) {
        if (!g.uuid.empty() && lower(g.uuid).starts_with(wanted) &&
            std::find(pool.begin(), pool.end(), g.minor) != pool.end()) {
          minor = g.minor;
          break;
        }
      }
    }
    if (!minor) break;
    if (std::find(out.minors.begin(), out.minors.end(), *minor) == out.minors.end()) {
      out.minors.push_back(*minor);
    }
  }
  return out;
}

}  // namespace podvisor::gpu
