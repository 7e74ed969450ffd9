#include "gpu/companion_protocol.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace podvisor::gpu {
namespace {

using nlohmann::json;

template <typename T>
std::optional<T> optional_of(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return it->get<T>();
}

std::string text_of(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Gpu gpu_of(const json& j) {
  Gpu g;
  g.index = j.at("index").get<unsigned>();
  g.error = text_of(j, "error");
  if (!g.error.empty()) return g;
  g.minor = optional_of<int>(j, "minor");
  g.uuid = text_of(j, "uuid");
  g.bus_id = text_of(j, "bus_id");
  g.name = text_of(j, "name");
  g.mig = j.value("mig", false);
  if (const auto it = j.find("mem"); it != j.end() && it->is_object()) {
    g.mem = Memory{it->at("total").get<uint64_t>(), it->at("used").get<uint64_t>(),
                   it->at("free").get<uint64_t>(), optional_of<uint64_t>(*it, "reserved")};
  }
  g.util = optional_of<unsigned>(j, "util");
  g.temp_c = optional_of<int>(j, "temp_c");
  if (const auto it = j.find("procs"); it != j.end() && it->is_array()) {
    g.procs.emplace();
    for (const auto& p : *it) {
      g.procs->push_back({p.at("host_pid").get<int64_t>(), optional_of<uint64_t>(p, "bytes")});
    }
  }
  return g;
}

EventKind kind_of(const std::string& name) {
  if (name == "xid") return EventKind::kXid;
  if (name == "ecc_sbe") return EventKind::kEccSingleBit;
  if (name == "ecc_dbe") return EventKind::kEccDoubleBit;
  if (name == "error") return EventKind::kError;
  return EventKind::kOther;
}

}  // namespace

Message parse_line(std::string_view line) {
  try {
    const auto j = json::parse(line);
    if (!j.is_object()) return Unreadable{"not a JSON object"};
    if (j.contains("hello")) {
      Hello h;
      h.nvml = j.contains("nvml") && !j["nvml"].is_null();
      h.reason = text_of(j, "reason");
      if (!h.nvml) return h;
      h.driver = text_of(j, "driver");
      h.version = text_of(j, "nvml");
      if (const auto it = j.find("symbols"); it != j.end() && it->is_object()) {
        for (const auto& [call, version] : it->items()) {
          if (version.is_string()) h.symbols[call] = version.get<std::string>();
        }
      }
      h.events = text_of(j, "events");
      h.gpus = j.value("gpus", 0u);
      return h;
    }
    if (j.contains("event")) {
      Event e;
      e.kind = kind_of(text_of(j, "event"));
      e.error = text_of(j, "error");
      e.index = j.value("index", -1);
      e.minor = j.value("minor", -1);
      e.uuid = text_of(j, "uuid");
      e.data = j.value("data", uint64_t{0});
      return e;
    }
    if (j.contains("id")) {
      Reply r;
      r.id = j.at("id").get<uint64_t>();
      r.error = text_of(j, "error");
      if (r.error.empty()) {
        r.sample.emplace();
        for (const auto& g : j.at("gpus")) r.sample->gpus.push_back(gpu_of(g));
      }
      return r;
    }
    if (j.contains("error")) return Unreadable{"the companion says: " + text_of(j, "error")};
    return Unreadable{"no hello, id or event member"};
  } catch (const json::exception& e) {
    return Unreadable{e.what()};
  }
}

std::string sample_command(uint64_t id) { return fmt::format("sample {}\n", id); }

bool critical_xid(uint64_t xid) {
  switch (xid) {
    case 13:
    case 31:
    case 43:
    case 45:
    case 68:
    case 109:
      return false;
    default:
      return true;
  }
}

std::string gib(uint64_t bytes) {
  return fmt::format("{:.1f} GiB", static_cast<double>(bytes) / (uint64_t{1} << 30));
}

}  // namespace podvisor::gpu
