#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "ctl/options.h"

namespace podvisor::ctl {
namespace {

Options parse(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  Options o;
  o.progname = "supervisorctl";
  parse_command_line(static_cast<int>(argv.size()), argv.data(), o);
  return o;
}

std::string usage_error(std::vector<std::string> args) {
  try {
    parse(std::move(args));
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(CtlOptions, ShortAndLongOptions) {
  auto o = parse({"-c", "/etc/s.conf", "-sunix:///run/s.sock", "-u", "me", "--password=pw", "-r",
                  "hist", "-i", "status", "all"});
  EXPECT_EQ(o.configfile, "/etc/s.conf");
  EXPECT_EQ(o.serverurl, "unix:///run/s.sock");
  EXPECT_EQ(o.username, "me");
  EXPECT_EQ(o.password, "pw");
  EXPECT_EQ(o.history_file, "hist");
  EXPECT_TRUE(o.interactive);
  EXPECT_EQ(o.args, (std::vector<std::string>{"status", "all"}));
  // Long options by a unique prefix; a short cluster whose last option takes the next word.
  o = parse({"--serv", "http://127.0.0.1:9001", "--user=u", "-ic", "f.conf"});
  EXPECT_EQ(o.serverurl, "http://127.0.0.1:9001");
  EXPECT_EQ(o.username, "u");
  EXPECT_TRUE(o.interactive);
  EXPECT_EQ(o.configfile, "f.conf");
  EXPECT_TRUE(o.args.empty());
  EXPECT_FALSE(o.help);
}

TEST(CtlOptions, OptionsEndAtTheFirstArgument) {
  auto o = parse({"tail", "-f", "app"});
  EXPECT_EQ(o.args, (std::vector<std::string>{"tail", "-f", "app"}));
  o = parse({"-i", "--", "-s"});
  EXPECT_EQ(o.args, std::vector<std::string>{"-s"});
  EXPECT_FALSE(o.serverurl);
  o = parse({"-", "x"});
  EXPECT_EQ(o.args, (std::vector<std::string>{"-", "x"}));
}

TEST(CtlOptions, HelpStopsAfterWhatCameBefore) {
  EXPECT_TRUE(parse({"-h"}).help);
  EXPECT_TRUE(parse({"-?"}).help);
  EXPECT_TRUE(parse({"--help", "-c", "a", "-c", "b"}).help);
  EXPECT_EQ(usage_error({"-c", "a", "-c", "b", "-h"}), "conflicting command line option '-c'");
  const auto help = help_text("podvisor ctl");
  EXPECT_TRUE(help.starts_with("podvisor ctl -- control podvisor")) << help;
  EXPECT_NE(help.find("Usage: podvisor ctl [options]"), std::string::npos);
  EXPECT_EQ(help.find("%s"), std::string::npos);
}

TEST(CtlOptions, GetoptErrorsAsPython) {
  EXPECT_EQ(usage_error({"-x"}), "option -x not recognized");
  EXPECT_EQ(usage_error({"--nope"}), "option --nope not recognized");
  EXPECT_EQ(usage_error({"--h"}), "option --h not a unique prefix");
  EXPECT_EQ(usage_error({"-s"}), "option -s requires argument");
  EXPECT_EQ(usage_error({"--serverurl"}), "option --serverurl requires argument");
  EXPECT_EQ(usage_error({"--interactive=yes"}), "option --interactive must not have an argument");
  EXPECT_EQ(usage_error({"-s", "unix:///a", "--serverurl", "unix:///b"}),
            "conflicting command line option '--serverurl'");
  EXPECT_EQ(usage_error({"-s", "nourl"}),
            "invalid value for -s 'nourl': value 'nourl' is not a URL");
  EXPECT_EQ(usage_error({"-s", "http:"}),
            "invalid value for -s 'http:': value 'http:' is not a URL");
}

TEST(CtlOptions, NormalizePath) {
  EXPECT_EQ(normalize_path("/a/./b/../c//d/"), "/a/c/d");
  EXPECT_EQ(normalize_path("/.."), "/");
  const char* home = std::getenv("HOME");
  if (home != nullptr) {
    EXPECT_EQ(normalize_path("~/x"), normalize_path(std::string(home) + "/x"));
  }
  EXPECT_EQ(normalize_path("rel"),
            normalize_path(std::filesystem::current_path().string() + "/rel"));
}

class CtlConfigFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/podvisor-ctl-options-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& text) {
    const auto path = dir_ + "/etc/supervisord.conf";
    std::filesystem::create_directories(dir_ + "/etc");
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(CtlConfigFile, ReadsTheSupervisorctlSectionWithExpansions) {
  ASSERT_EQ(setenv("PODVISOR_CTL_TEST_PROMPT", "box", 1), 0);
  const auto file = write(
      "[supervisorctl]\n"
      "serverurl = unix://%(here)s/../run/s.sock\n"
      "prompt = %(ENV_PODVISOR_CTL_TEST_PROMPT)s\n"
      "username = fromfile\n"
      "password = secret\n");
  Options o;
  o.username = "fromcommandline";
  read_config(file, o);
  EXPECT_EQ(o.serverurl, "unix://" + dir_ + "/run/s.sock");
  EXPECT_EQ(o.prompt, "box");
  EXPECT_EQ(o.username, "fromcommandline");  // the command line wins
  EXPECT_EQ(o.password, "secret");
  EXPECT_FALSE(o.history_file);
  // -s wins over the file too; the file's default URL is supervisorctl's.
  Options given;
  given.serverurl = "http://127.0.0.1:1";
  read_config(file, given);
  EXPECT_EQ(given.serverurl, "http://127.0.0.1:1");
  Options plain;
  read_config(write("[supervisorctl]\n"), plain);
  EXPECT_EQ(plain.serverurl, "http://localhost:9001");
  EXPECT_EQ(plain.prompt, "supervisor");
}

TEST_F(CtlConfigFile, UsageErrors) {
  Options o;
  try {
    read_config(dir_ + "/missing.conf", o);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "could not find config file " + dir_ + "/missing.conf");
  }
  try {
    read_config(write("[supervisord]\n"), o);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), ".ini file does not include supervisorctl section");
  }
  EXPECT_THROW(read_config(write("[supervisorctl]\nprompt = %(nope)s\n"), o), UsageError);
}

TEST_F(CtlConfigFile, FindServerReadsTheGivenFile) {
  Options o;
  o.configfile = write("[supervisorctl]\nserverurl = http://127.0.0.1:7\n");
  find_server(o);
  EXPECT_EQ(o.serverurl, "http://127.0.0.1:7");
}

// An image with Debian's supervisor has /etc/supervisor/supervisord.conf naming a socket that
// single-command podvisor may not serve: ctl with no -c/-s then tries podvisor's own.
TEST_F(CtlConfigFile, ASearchedFilesDeadSocketGivesWayToSingleCommandModes) {
  const auto file = write("[supervisorctl]\nserverurl = unix://" + dir_ + "/dead.sock\n");
  const auto live = dir_ + "/podvisor.sock";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  live.copy(address.sun_path, live.size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  ASSERT_EQ(setenv("SUPERVISOR_UNIX_HTTP_SERVER_FILE", live.c_str(), 1), 0);
  EXPECT_EQ(single_command_socket(), live);
  EXPECT_TRUE(unix_socket_answers(live));
  EXPECT_FALSE(unix_socket_answers(dir_ + "/dead.sock"));
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir_);  // the search finds etc/supervisord.conf here

  Options searched;
  find_server(searched);
  EXPECT_EQ(searched.serverurl, "unix://" + live);
  Options given;  // -c names the file: its socket, answered or not
  given.configfile = file;
  find_server(given);
  EXPECT_EQ(given.serverurl, "unix://" + dir_ + "/dead.sock");
  Options url;  // -s wins
  url.serverurl = "unix:///elsewhere.sock";
  find_server(url);
  EXPECT_EQ(url.serverurl, "unix:///elsewhere.sock");
  ::close(fd);
  Options nobody;  // neither answers: the file's, for its error message
  find_server(nobody);
  EXPECT_EQ(nobody.serverurl, "unix://" + dir_ + "/dead.sock");

  std::filesystem::current_path(cwd);
  ASSERT_EQ(unsetenv("SUPERVISOR_UNIX_HTTP_SERVER_FILE"), 0);
  EXPECT_EQ(single_command_socket(), "/tmp/podvisor.sock");
}

}  // namespace
}  // namespace podvisor::ctl
