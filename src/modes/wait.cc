#include "modes/wait.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <optional>

#include "config/spec.h"
#include "config/values.h"
#include "probe/watch.h"
#include "runtime/loop.h"

namespace podvisor::modes {
namespace {

constexpr int kUsageError = 2;

}  // namespace

int wait_main(int argc, char** argv) {
  CLI::App app{
      "Waits until every TARGET is ready, with the probes of the `ready=` key: exit 0 once all\n"
      "are, 1 when --timeout passes first (printing the last error of each), 2 for a usage\n"
      "error. A progress line goes to stderr every 10 s.\n"
      "TARGET: http://HOST:PORT/PATH (a 2xx answer), tcp://HOST:PORT (a connection),\n"
      "exec:CMD (exit status 0, run with /bin/sh -c), file:PATH (the file exists).\n"
      "HOST is a numeric address or localhost.",
      "podvisor wait"};
  std::vector<std::string> targets;
  std::string timeout_text = "0", interval_text;
  app.add_option("targets", targets, "what to wait for")->required();
  app.add_option("--timeout", timeout_text, "seconds to wait in all; 0 waits forever (default)");
  app.add_option("--interval", interval_text,
                 "seconds between attempts; default: adaptive, from 20 ms up to 1 s");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kUsageError;
  }
  std::vector<config::ProbeSpec> probes;
  std::chrono::milliseconds timeout{};
  std::optional<std::chrono::milliseconds> interval;
  try {
    timeout = config::parse_fractional_seconds(timeout_text, 365L * 86400);
    if (!interval_text.empty()) {
      interval = config::parse_fractional_seconds(interval_text, 86400);
      if (interval->count() == 0) throw config::ValueError("--interval must be more than 0");
    }
    for (const auto& t : targets) {
      probes.push_back(config::parse_probe(t));
      const auto kind = probes.back().kind;
      if (kind == config::ProbeSpec::Kind::kLog || kind == config::ProbeSpec::Kind::kNotify) {
        throw config::ValueError(fmt::format(
            "'{}' needs a program podvisor runs; wait takes http, tcp, exec and file targets", t));
      }
    }
  } catch (const config::ValueError& e) {
    std::cerr << "podvisor wait: " << e.what() << "\n";
    return kUsageError;
  }

  // Exec probes' children are reaped through the loop; SIGINT/SIGTERM/SIGQUIT end the wait.
  runtime::Loop loop;
  std::optional<int> interrupted;
  loop.on_signal([&](int sig) {
    if (sig == SIGINT || sig == SIGTERM || sig == SIGQUIT) {
      interrupted = sig;
      loop.stop();
    }
  });
  loop.on_error([](const std::string& e) { std::cerr << "podvisor wait: " << e << std::endl; });
  loop.start();
  std::vector<std::shared_ptr<probe::ReadinessWatch>> watches;
  size_t finished = 0;
  bool all_ready = true;
  for (const auto& spec : probes) {
    probe::ReadinessOptions o;
    o.name = spec.text;
    o.interval = interval;
    o.timeout = timeout;
    o.progress = [](std::string line) { std::cerr << line << std::endl; };
    o.on_ready = [&, text = spec.text](std::chrono::milliseconds elapsed, const std::string& d) {
      std::cerr << fmt::format("ready: {} ({}) after {}", text, d, probe::format_seconds(elapsed))
                << std::endl;
      if (++finished == probes.size()) loop.io().stop();
    };
    o.on_timeout = [&, text = spec.text, index = watches.size()](const std::string&) {
      all_ready = false;
      std::cerr << fmt::format("not ready after {}: {}: last attempt: {}",
                               probe::format_seconds(timeout), text, watches[index]->last())
                << std::endl;
      if (++finished == probes.size()) loop.io().stop();
    };
    watches.push_back(std::make_shared<probe::ReadinessWatch>(
        loop.io(), probe::make_probe(spec, loop.io(), loop), std::move(o)));
  }
  for (auto& w : watches) w->start();
  loop.io().run();
  for (auto& w : watches) w->stop();
  if (interrupted) return 128 + *interrupted;
  return all_ready ? 0 : 1;
}

}  // namespace podvisor::modes
