// The dispatcher behind the real HTTP server and XML-RPC codec, driven by Debian's real
// supervisorctl: what it prints is what it prints against supervisord. Skipped where
// supervisorctl is not installed.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "control/server/http_server.h"
#include "control/server/rpc.h"
#include "control/wire/xmlrpc.h"

namespace podvisor::control {
namespace {

using core::State;

// A fixed set of processes; starts and stops succeed at once and change the state.
class StaticBackend : public Backend {
 public:
  std::vector<ProcessInfo> procs;
  int64_t clock = 1'700'000'000;

  SupervisorState state() const override { return SupervisorState::kRunning; }
  pid_t pid() const override { return 4242; }
  std::string identification() const override { return "supervisor"; }
  int64_t wall_now() const override { return clock; }
  void shutdown() override {}
  void restart() override {}
  std::vector<ProcessInfo> processes() const override { return procs; }
  ProcessInfo& find(const std::string& group, const std::string& name) {
    for (auto& p : procs) {
      if (p.group == group && p.name == name) return p;
    }
    throw std::logic_error("no such process");
  }
  void start(const std::string& group, const std::string& name, bool, Done done) override {
    if (name == "missing") return done(Outcome{FaultCode::kNoFile, "can't find command 'x'"});
    auto& p = find(group, name);
    p.state = State::kRunning;
    p.pid = 500;
    p.start = clock;
    done({});
  }
  void stop(const std::string& group, const std::string& name, Done done) override {
    auto& p = find(group, name);
    p.state = State::kStopped;
    p.pid = 0;
    p.stop = clock;
    p.exitstatus = -1;
    done({});
  }
  Outcome signal(const std::string&, const std::string&, int) override { return {}; }
  Outcome send_stdin(const std::string&, const std::string&, const std::string&) override {
    return {};
  }
  std::optional<LogSource> process_log(const std::string&, const std::string& name,
                                       Stream stream) const override {
    if (stream == Stream::kStderr) return std::nullopt;
    const std::string text = fmt::format("{} line 1\n{} line 2\n", name, name);
    return LogSource{"", text, 1000 + text.size()};
  }
  bool clear_process_logs(const std::string&, const std::string&) override { return true; }
  std::optional<LogSource> main_log() const override {
    return LogSource{"", "podvisor started\n", 17};
  }
  Outcome clear_main_log() override { return {}; }
  std::shared_ptr<void> watch_log(const std::string&, const std::string&, Stream,
                                  std::function<void()>) override {
    return nullptr;
  }
  std::variant<ConfigDiff, std::string> reread() override {
    return ConfigDiff{{"newbie"}, {"web"}, {}};
  }
  Outcome add_group(const std::string&) override { return {}; }
  Outcome remove_group(const std::string&) override { return {}; }
  std::vector<ConfigInfo> config_info() const override {
    ConfigInfo c;
    c.spec.name = "web";
    c.spec.group = "web";
    c.spec.argv = {"sleep", "1000"};
    c.spec.priority = 10;
    c.group_priority = 10;
    c.in_use = true;
    return {c};
  }
};

class RpcWireTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access("/usr/bin/supervisorctl", X_OK) != 0) {
      GTEST_SKIP() << "Debian's supervisorctl is not installed";
    }
    setenv("TZ", "UTC", 1);
    tzset();
    char tmpl[] = "/tmp/podvisor-rpc-wire-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ProcessInfo web{"web", "web", State::kRunning, backend_.clock - 100, 0, 101, 0, "", "", "", ""};
    ProcessInfo a{"a", "grp", State::kRunning, backend_.clock - 90061, 0, 102, 0, "", "", "", ""};
    ProcessInfo b{"b",
                  "grp",
                  State::kFatal,
                  backend_.clock - 5,
                  backend_.clock - 5,
                  0,
                  0,
                  "Exited too quickly (process log may have details)",
                  "",
                  "",
                  ""};
    ProcessInfo dep{"dep", "dep", State::kStopped,          0, 0, 0, 0, "",
                    "",    "",    "waiting for web (ready)"};
    ProcessInfo missing{"missing", "missing", State::kStopped, 0, 0, 0, 0, "", "", "", ""};
    backend_.procs = {web, a, b, dep, missing};
    rpc_ = std::make_unique<Rpc>(backend_);
    server_ = std::make_unique<HttpServer>(
        io_, [this](const Request& request, std::shared_ptr<Responder> responder) {
          if (request.path() != "/RPC2") {
            responder->send(Response{404, "text/plain", "not here", {}});
            return;
          }
          xmlrpc::Call call;
          try {
            call = xmlrpc::decode_call(request.body);
          } catch (const xmlrpc::DecodeError&) {
            responder->send(Response{400, "text/plain", "bad request", {}});
            return;
          }
          rpc_->call(call, [responder](RpcResult result) {
            Response response;
            response.content_type = "text/xml";
            if (const auto* fault = std::get_if<xmlrpc::Fault>(&result)) {
              response.body = xmlrpc::encode_fault(*fault);
            } else {
              response.body = xmlrpc::encode_response(std::get<xmlrpc::Value>(result));
            }
            responder->send(std::move(response));
          });
        });
    server_->listen_unix(dir_ + "/ctl.sock");
    thread_ = std::thread([this] {
      auto work = boost::asio::make_work_guard(io_);
      io_.run();
    });
  }

  void TearDown() override {
    if (thread_.joinable()) {
      boost::asio::post(io_, [this] {
        server_.reset();
        io_.stop();
      });
      thread_.join();
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // supervisorctl's stdout and stderr, and its exit status.
  std::pair<std::string, int> supervisorctl(const std::string& args) {
    const auto command =
        fmt::format("/usr/bin/supervisorctl -s unix://{}/ctl.sock {} 2>&1", dir_, args);
    FILE* p = popen(command.c_str(), "r");
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    const int status = pclose(p);
    return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
  }

  boost::asio::io_context io_;
  std::string dir_;
  StaticBackend backend_;
  std::unique_ptr<Rpc> rpc_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

TEST_F(RpcWireTest, StatusAsSupervisorctlShowsIt) {
  const auto [out, code] = supervisorctl("status");
  EXPECT_EQ(out,
            "dep                              STOPPED   waiting for web (ready)\n"
            "grp:a                            RUNNING   pid 102, uptime 1 day, 1:01:01\n"
            "grp:b                            FATAL     Exited too quickly (process log may "
            "have details)\n"
            "missing                          STOPPED   Not started\n"
            "web                              RUNNING   pid 101, uptime 0:01:40\n");
  EXPECT_EQ(code, 3);
  EXPECT_EQ(supervisorctl("status web"),
            std::make_pair(std::string("web                              RUNNING   pid 101, "
                                       "uptime 0:01:40\n"),
                           0));
  EXPECT_EQ(supervisorctl("status nope").first, "nope: ERROR (no such process)\n");
}

TEST_F(RpcWireTest, ControlCommands) {
  EXPECT_EQ(supervisorctl("stop web"), std::make_pair(std::string("web: stopped\n"), 0));
  EXPECT_EQ(supervisorctl("stop web"),
            std::make_pair(std::string("web: ERROR (not running)\n"), 0));
  EXPECT_EQ(supervisorctl("start web"), std::make_pair(std::string("web: started\n"), 0));
  EXPECT_EQ(supervisorctl("start missing"),
            std::make_pair(std::string("missing: ERROR (no such file)\n"), 1));
  EXPECT_EQ(supervisorctl("restart grp:*"),
            std::make_pair(std::string("grp:a: stopped\ngrp:a: started\ngrp:b: started\n"), 0));
  EXPECT_EQ(supervisorctl("signal HUP web grp:a"),
            std::make_pair(std::string("web: signalled\ngrp:a: signalled\n"), 0));
  EXPECT_EQ(supervisorctl("signal BOGUS web").first, "web: ERROR (bad signal name)\n");
  // supervisord's order: the processes' order, not reversed.
  EXPECT_EQ(supervisorctl("stop all").first, "web: stopped\ngrp:a: stopped\ngrp:b: stopped\n");
  EXPECT_EQ(supervisorctl("pid"), std::make_pair(std::string("4242\n"), 0));
  EXPECT_EQ(supervisorctl("pid web"), std::make_pair(std::string("0\n"), 7));
  EXPECT_EQ(supervisorctl("version").first, std::string(PODVISOR_VERSION) + "\n");
  EXPECT_EQ(supervisorctl("clear web").first, "web: cleared\n");
}

TEST_F(RpcWireTest, LogsAndConfiguration) {
  EXPECT_EQ(supervisorctl("tail web").first, "web line 1\nweb line 2\n\n");
  EXPECT_EQ(supervisorctl("tail -7 web").first, "line 2\n\n");
  EXPECT_EQ(supervisorctl("tail web stderr"),
            std::make_pair(std::string("web: ERROR (no log file)\n"), 1));
  EXPECT_EQ(supervisorctl("maintail").first, "podvisor started\n\n");
  EXPECT_EQ(supervisorctl("reread").first, "newbie: available\nweb: changed\n");
  EXPECT_EQ(supervisorctl("avail").first,
            "web                              in use    auto      10:10\n");
}

}  // namespace
}  // namespace podvisor::control
