#include "gate/health.h"

#include <fmt/format.h>

#include <array>

namespace podvisor::gate {

namespace {

// By Health's value.
constexpr std::array<std::string_view, 4> kPresetNames = {"none", "runpod", "sagemaker",
                                                          "kubernetes"};

}  // namespace

std::optional<Health> parse_health(std::string_view name) {
  for (size_t i = 0; i < kPresetNames.size(); ++i) {
    if (name == kPresetNames[i]) return static_cast<Health>(i);
  }
  return std::nullopt;
}

std::string_view to_string(Health preset) { return kPresetNames[static_cast<size_t>(preset)]; }

std::optional<int> health_status(Health preset, std::string_view method, std::string_view path,
                                 const ProgramView& p) {
  if (method != "GET" && method != "HEAD") return std::nullopt;
  const bool ready = p.running && !p.shutting_down;
  switch (preset) {
    case Health::kRunpod:
      // RunPod's load balancer: 204 is "initialising", 200 healthy, anything else unhealthy.
      if (path != "/ping") return std::nullopt;
      if (ready) return 200;
      return p.fatal || p.stopped || p.shutting_down ? 503 : 204;
    case Health::kSagemaker:
      // Only 200 counts as healthy.
      if (path != "/ping") return std::nullopt;
      return ready ? 200 : 503;
    case Health::kKubernetes:
      // Liveness must not follow the model's load (a 10-minute load would be killed).
      if (path == "/livez") return p.fatal ? 503 : 200;
      if (path == "/readyz") return ready ? 200 : 503;
      if (path == "/startupz") return p.ever_running ? 200 : 503;
      return std::nullopt;
    case Health::kNone:
      break;
  }
  return std::nullopt;
}

std::string http_response(int status, bool head, int retry_after) {
  const std::string_view reason = status == 200   ? "OK"
                                  : status == 204 ? "No Content"
                                  : status == 404 ? "Not Found"
                                                  : "Service Unavailable";
  const std::string body = status == 204 ? "" : fmt::format("{}\n", reason);
  auto out = fmt::format("HTTP/1.1 {} {}\r\n", status, reason);
  if (retry_after > 0) out += fmt::format("Retry-After: {}\r\n", retry_after);
  if (status != 204) {
    out += fmt::format("Content-Type: text/plain\r\nContent-Length: {}\r\n", body.size());
  }
  out += "Connection: close\r\n\r\n";
  if (!head) out += body;
  return out;
}

}  // namespace podvisor::gate
