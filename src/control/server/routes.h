// What each path of the control server means: supervisord's /RPC2, /logtail and
// /mainlogtail, and podvisor's /health, /ready, /ping, /metrics and /api/v1 for
// orchestrators and scripts.
#pragma once

#include <memory>
#include <string>

#include "control/server/backend.h"
#include "control/server/http_server.h"
#include "control/server/rpc.h"

namespace podvisor::control {

class Routes {
 public:
  // ssh_connect: how to reach the pod's sshd ("" when unknown), reported by GET /api/v1.
  explicit Routes(Backend& backend, std::string ssh_connect = {})
      : backend_(backend), rpc_(backend), ssh_connect_(std::move(ssh_connect)) {}
  void handle(const Request& request, std::shared_ptr<Responder> responder);

 private:
  void rpc(const Request& request, std::shared_ptr<Responder> responder);
  void logtail(const std::string& path, std::shared_ptr<Responder> responder);
  Response health() const;
  Response ready() const;
  Response metrics() const;
  void api(const Request& request, std::shared_ptr<Responder> responder);

  Backend& backend_;
  Rpc rpc_;
  std::string ssh_connect_;
};

// Whether podvisor serves: 200 "ok", or 503 naming the FATAL programs (/health).
// Readiness (/ready, /ping): 200 when every program with a probe (or, when none has one,
// every autostart program) is RUNNING or done, 204 while one is still starting, 503 when one
// failed.
int health_status(const std::vector<ProcessInfo>& processes, SupervisorState state,
                  std::string& why);
int ready_status(const std::vector<ProcessInfo>& processes, SupervisorState state,
                 std::string& why);

// Prometheus text exposition of the processes and of podvisor itself.
std::string render_metrics(const std::vector<ProcessInfo>& processes, int64_t now);

}  // namespace podvisor::control
