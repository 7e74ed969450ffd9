// The effective configuration as plain values: what the runtime holds and never re-parses.
#pragma once

#include <algorithm>
#include <chrono>
#include <csignal>
#include <map>
#include <string>
#include <vector>

#include "config/values.h"

namespace podvisor::config {

using namespace std::chrono_literals;

struct ProgramSpec {
  std::string name = "app";
  std::vector<std::string> argv;
  std::map<std::string, std::string> environment;
  std::string directory;
  std::chrono::milliseconds startsecs = 1s;
  int startretries = 3;
  int stopsignal = SIGTERM;
  std::chrono::milliseconds stopwaitsecs = 10s;
  bool stopasgroup = false;
  bool killasgroup = false;
  std::vector<int> exitcodes{0};
  Autorestart autorestart = Autorestart::kUnexpected;
  std::chrono::milliseconds restart_reset = 300s;
  std::chrono::milliseconds backoff_max = 30s;
  // standard-supervisor semantics: every exit counts toward startretries, not only the
  // exits before startsecs (SPEC §2).
  bool count_every_exit = false;
  // When this program ends for good, podvisor stops and exits with its status.
  bool main = false;

  bool expected(int exit_code) const {
    return std::find(exitcodes.begin(), exitcodes.end(), exit_code) != exitcodes.end();
  }
};

struct SupervisorSpec {
  LogLevel loglevel = LogLevel::kInfo;
  std::map<std::string, std::string> environment;
  bool exit_on_fatal = false;
  std::vector<ProgramSpec> programs;
};

}  // namespace podvisor::config
