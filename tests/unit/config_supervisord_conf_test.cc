#include <gtest/gtest.h>

#include "config/command.h"
#include "config/env.h"
#include "config/supervisord_conf.h"

namespace podvisor::config {
namespace {

// supervisord reads `command=` with %-expansion and shlex.split; split_command is shlex.split,
// so undoing the %% and splitting must give argv back.
std::vector<std::string> read_back(const std::string& value) {
  std::string expanded;
  for (size_t i = 0; i < value.size(); ++i) {
    expanded += value[i];
    if (value[i] == '%' && i + 1 < value.size() && value[i + 1] == '%') ++i;
  }
  std::string joined;  // continuation lines come back joined with '\n', indentation gone
  for (size_t i = 0; i < expanded.size(); ++i) {
    joined += expanded[i];
    if (expanded[i] == '\n') {
      while (i + 1 < expanded.size() && expanded[i + 1] == ' ') ++i;
    }
  }
  return split_command(joined);
}

TEST(SupervisordCommand, RoundTrips) {
  const std::vector<std::vector<std::string>> cases = {
      {"vllm", "serve", "model", "--host", "0.0.0.0", "--port", "8080"},
      {"python3", "-c", "print(\"hi there\")", "a b", "it's"},
      {"vllm", "--speculative-config",
       R"({"model": "x/y", "num_speculative_tokens": 3, "method": "eagle"})"},
      {"echo", "100%", "%(ENV_HOME)s"},
      {"sh", "-c", "echo a ; echo b # c", "#x", ";y"},
      {"printf", "two\nlines", ""},
  };
  for (const auto& argv : cases) {
    const auto text = supervisord_command(argv);
    EXPECT_EQ(read_back(text), argv) << text;
    // configparser's inline comments: whitespace then ';' or '#' would cut the line.
    EXPECT_EQ(text.find(" ;"), std::string::npos) << text;
    EXPECT_EQ(text.find(" #"), std::string::npos) << text;
  }
}

TEST(SupervisordConf, NamesTheControlSocketAndTheProgram) {
  CommandLine cli;
  cli.argv = {"python3", "-m", "server"};
  std::vector<std::string> warnings;
  const auto spec = single_command_spec(
      cli, {"SUPERVISOR_UNIX_HTTP_SERVER_FILE=/run/pv.sock", "SUPERVISOR_PROGRAM__APP_STARTSECS=5"},
      warnings);
  const auto text = supervisord_conf(spec);
  for (const auto* line :
       {"[supervisord]\nnodaemon = true\n", "[unix_http_server]\nfile = /run/pv.sock\n",
        "[supervisorctl]\nserverurl = unix:///run/pv.sock\n", "[rpcinterface:supervisor]\n",
        "[program:app]\ncommand = python3 -m server\n", "startsecs = 5\n", "exitcodes = 255\n",
        "autorestart = true\n", "stopasgroup = true\n", "stdout_logfile = /dev/stdout\n",
        "stdout_logfile_maxbytes = 0\n", "logfile = /dev/null\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
}

TEST(SupervisordConf, NoSocketNoSupervisorctlSection) {
  CommandLine cli;
  cli.argv = {"x"};
  std::vector<std::string> warnings;
  const auto text = supervisord_conf(
      single_command_spec(cli, {"SUPERVISOR_UNIX_HTTP_SERVER_FILE=none"}, warnings));
  EXPECT_EQ(text.find("[supervisorctl]"), std::string::npos) << text;
  EXPECT_EQ(text.find("[unix_http_server]"), std::string::npos) << text;
}

}  // namespace
}  // namespace podvisor::config
