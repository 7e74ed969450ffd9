#include "config/gpu_memory_keys.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cmath>

#include "config/spec.h"

namespace podvisor::config {
namespace {

constexpr std::string_view kAccepted =
    "gpu_free_memory takes an amount (\"20GiB\", \"512MiB\", or a number of MiB) or a share of "
    "each GPU (\"90%\")";

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// The multiplier of a unit suffix (any case; KB/MB/GB binary, as supervisord's byte sizes);
// 0 when it is none of them.
uint64_t unit_of(std::string_view unit) {
  std::string u;
  for (char c : unit) u += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (u.ends_with("ib"))
    u.erase(u.size() - 2);
  else if (u.ends_with("b"))
    u.erase(u.size() - 1);
  if (u.empty() || u == "m") return uint64_t{1} << 20;  // a bare number is MiB
  if (u == "k") return uint64_t{1} << 10;
  if (u == "g") return uint64_t{1} << 30;
  if (u == "t") return uint64_t{1} << 40;
  return 0;
}

}  // namespace

GpuFreeMemory parse_gpu_free_memory(std::string_view text) {
  const auto t = trimmed(text);
  double number = 0;
  const auto [end, error] = std::from_chars(t.data(), t.data() + t.size(), number);
  if (error != std::errc() || !std::isfinite(number) || number <= 0) {
    throw ValueError(fmt::format("'{}': {}", text, kAccepted));
  }
  const auto rest = trimmed(std::string_view(end, t.data() + t.size() - end));
  GpuFreeMemory out;
  if (rest == "%") {
    if (number > 100) throw ValueError(fmt::format("'{}': a share is at most 100%", text));
    out.percent = number;
    return out;
  }
  const uint64_t unit = unit_of(rest);
  if (unit == 0) throw ValueError(fmt::format("'{}': {}", text, kAccepted));
  const double bytes = number * static_cast<double>(unit);
  if (bytes > static_cast<double>(uint64_t{1} << 60)) {
    throw ValueError(fmt::format("'{}': more memory than any GPU has", text));
  }
  out.bytes = static_cast<uint64_t>(std::llround(bytes));
  return out;
}

std::string to_string(const GpuFreeMemory& need) {
  if (need.bytes == 0) return fmt::format("{:g}%", need.percent);
  for (const auto& [unit, name] :
       {std::pair{uint64_t{1} << 40, "TiB"}, std::pair{uint64_t{1} << 30, "GiB"},
        std::pair{uint64_t{1} << 20, "MiB"}}) {
    if (need.bytes >= unit)
      return fmt::format("{:g}{}", static_cast<double>(need.bytes) / unit, name);
  }
  return fmt::format("{:g}KiB", static_cast<double>(need.bytes) / 1024);
}

void apply_gpu_free_memory(ProgramSpec& p, std::string_view value) {
  p.gpu_free_memory = parse_gpu_free_memory(value);
}

std::optional<std::string> print_gpu_free_memory(const ProgramSpec& p) {
  if (!p.gpu_free_memory) return std::nullopt;
  return to_string(*p.gpu_free_memory);
}

}  // namespace podvisor::config
