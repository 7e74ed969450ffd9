// The health presets of a gate (docs/gate.md): which paths podvisor answers itself, from the
// program's state, for RunPod's load balancer, SageMaker and Kubernetes probes; and the small
// constant HTTP answers the gate writes (health, 503).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace podvisor::gate {

enum class Health { kNone, kRunpod, kSagemaker, kKubernetes };

std::optional<Health> parse_health(std::string_view name);
std::string_view to_string(Health preset);

// The program as the health paths see it.
struct ProgramView {
  bool running = false;       // RUNNING (ready, with a probe)
  bool fatal = false;         // FATAL and podvisor does not hold on it
  bool stopped = false;       // STOPPED or EXITED after it ran, not to be started again by itself
  bool ever_running = false;  // has been RUNNING once
  bool shutting_down = false;
};

// The status for `method path` under `preset`; nullopt when it is not one of its health paths
// (then the request is the program's).
std::optional<int> health_status(Health preset, std::string_view method, std::string_view path,
                                 const ProgramView& program);

// A complete response that ends the connection: `status` with a one-line body (none for 204
// or when `head`), and Retry-After when `retry_after` > 0.
std::string http_response(int status, bool head = false, int retry_after = 0);

}  // namespace podvisor::gate
