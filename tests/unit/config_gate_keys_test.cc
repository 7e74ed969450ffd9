// The [program] gate* keys: accepted values, the presets' defaults from the environment, and
// the errors `check` reports.
#include <gtest/gtest.h>
#include <stdlib.h>

#include "config/gate_keys.h"
#include "config/values.h"

namespace podvisor::config {
namespace {

using namespace std::chrono_literals;

// Sets (or unsets, with nullptr) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = ::getenv(name)) old_ = old;
    value ? ::setenv(name, value, 1) : ::unsetenv(name);
  }
  ~ScopedEnv() { old_ ? ::setenv(name_, old_->c_str(), 1) : ::unsetenv(name_); }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(GateKeys, ValuesAndTheirErrors) {
  ProgramSpec p;
  set_gate_key(p, "gate", "8000");
  EXPECT_EQ(p.gate, "0.0.0.0:8000");
  set_gate_key(p, "gate_upstream", "[::1]:8001");
  EXPECT_EQ(p.gate_upstream, "[::1]:8001");
  set_gate_key(p, "gate_upstream", "unix:/run/vllm.sock");
  EXPECT_EQ(p.gate_upstream, "unix:/run/vllm.sock");
  EXPECT_THROW(set_gate_key(p, "gate_upstream", "unix:vllm.sock"), ValueError);
  EXPECT_THROW(set_gate_key(p, "gate", "unix:/run/public.sock"), ValueError);
  EXPECT_EQ(gate_hold_timeout(p), 300s);
  set_gate_key(p, "gate_hold_timeout", "2.5");
  EXPECT_EQ(gate_hold_timeout(p), 2500ms);
  set_gate_key(p, "gate_hold_timeout", "0");
  EXPECT_EQ(gate_hold_timeout(p), 0ms);
  EXPECT_THROW(set_gate_key(p, "gate_hold_timeout", "5m"), ValueError);
  set_gate_key(p, "gate_max_held", "2");
  EXPECT_EQ(p.gate_max_held, 2);
  EXPECT_THROW(set_gate_key(p, "gate_max_held", "0"), ValueError);
  set_gate_key(p, "gate_health", "sagemaker");
  EXPECT_EQ(p.gate_health, "sagemaker");
  EXPECT_THROW(set_gate_key(p, "gate_health", "k8s"), ValueError);
  set_gate_key(p, "gate_health_port", "9000");
  EXPECT_EQ(p.gate_health_port, 9000);
  EXPECT_THROW(set_gate_key(p, "gate_health_port", "0"), ValueError);
  EXPECT_THROW(set_gate_key(p, "gate_health_port", "x"), ValueError);
}

TEST(GateKeys, PresetsFillTheGateFromTheEnvironment) {
  {
    ScopedEnv port("PORT", "5000"), health("PORT_HEALTH", "5001");
    ProgramSpec p;
    p.gate_health = "runpod";
    p.gate_upstream = "127.0.0.1:8001";
    finish_gate_keys(p);
    EXPECT_EQ(p.gate, "0.0.0.0:5000");
    EXPECT_EQ(p.gate_health_port, 5001);
  }
  {
    ScopedEnv port("PORT", nullptr), health("PORT_HEALTH", "80");
    ProgramSpec p;
    p.gate_health = "runpod";
    p.gate_upstream = "127.0.0.1:8001";
    finish_gate_keys(p);
    EXPECT_EQ(p.gate, "0.0.0.0:80");
    EXPECT_EQ(p.gate_health_port, 0);  // the same port: /ping on the gate's
  }
  {
    ScopedEnv port("SAGEMAKER_BIND_TO_PORT", nullptr);
    ProgramSpec p;
    p.gate_health = "sagemaker";
    p.gate_upstream = "127.0.0.1:8001";
    finish_gate_keys(p);
    EXPECT_EQ(p.gate, "0.0.0.0:8080");
    EXPECT_EQ(gate_hold_timeout(p), 50s);
  }
  {
    ScopedEnv port("PORT", "eighty");
    ProgramSpec p;
    p.gate_health = "runpod";
    p.gate_upstream = "127.0.0.1:8001";
    EXPECT_THROW(finish_gate_keys(p), ValueError);
  }
  ProgramSpec k;
  k.gate_health = "kubernetes";  // no default address: gate= is needed
  k.gate_upstream = "127.0.0.1:8001";
  EXPECT_THROW(finish_gate_keys(k), ValueError);
  ProgramSpec lone;
  lone.gate_max_held = 3;
  EXPECT_THROW(finish_gate_keys(lone), ValueError);
}

}  // namespace
}  // namespace podvisor::config
