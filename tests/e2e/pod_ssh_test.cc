// SSH at boot (docs/pods.md) with Debian's real OpenSSH server and client on loopback: a
// fresh key pair, port and directory per test, key auth only. Every path podvisor writes is
// under the test's directory (ssh_host_key_dir, ssh_authorized_keys, ssh_env_file,
// ssh_profile_file): nothing of this machine's /root/.ssh, /etc/ssh or /etc/profile.d is
// touched. The directory is under /tmp (mode 1777), which sshd's StrictModes rejects on the
// path to authorized_keys, so these tests, and only they, pass StrictModes=no.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>

#include "harness.h"

namespace e2e {
namespace {

bool installed(const char* path) { return ::access(path, X_OK) == 0; }

// Runs argv (looked up in PATH) to completion.
Result command(std::vector<std::string> argv) {
  Options o;
  o.argv = std::move(argv);
  return run(o);
}

class PodSsh : public testing::Test {
 protected:
  void SetUp() override {
    if (!installed("/usr/sbin/sshd") || !installed("/usr/bin/ssh") ||
        !installed("/usr/bin/ssh-keygen")) {
      GTEST_SKIP() << "OpenSSH server or client not installed (apt-get install openssh-server)";
    }
    port_ = loopback_port();
    key_ = make_key("id");
  }

  // A fresh ed25519 key pair in the test's directory; returns its public line.
  std::string make_key(const std::string& name) {
    const auto r = command(
        {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name + "@laptop", "-f", dir_ / name});
    EXPECT_EQ(r.code, 0) << r.describe();
    auto pub = read_file(dir_ / (name + ".pub"));
    while (!pub.empty() && pub.back() == '\n') pub.pop_back();
    return pub;
  }

  // podvisor ARGS with SSH's paths in the test's directory, and `public_key` as PUBLIC_KEY.
  Options pod(std::vector<std::string> args,
              std::map<std::string, std::optional<std::string>> env) {
    std::map<std::string, std::optional<std::string>> all = {
        {"SUPERVISOR_UNIX_HTTP_SERVER_FILE", dir_ / "s.sock"},
        {"SUPERVISOR_SUPERVISORD_SSH_HOST_KEY_DIR", dir_ / "hostkeys"},
        {"SUPERVISOR_SUPERVISORD_SSH_AUTHORIZED_KEYS", dir_ / "home/.ssh/authorized_keys"},
        {"SUPERVISOR_SUPERVISORD_SSH_ENV_FILE", dir_ / "ssh-environment"},
        {"SUPERVISOR_SUPERVISORD_SSH_PROFILE_FILE", dir_ / "profile.d/podvisor-ssh.sh"},
        {"SUPERVISOR_SUPERVISORD_SSH_PORT", std::to_string(port_)},
        {"SUPERVISOR_SUPERVISORD_SSH_OPTIONS", "ListenAddress=127.0.0.1 StrictModes=no"},
        {"PUBLIC_KEY", key_},
    };
    for (auto& [k, v] : env) all[k] = v;
    return podvisor(std::move(args), std::move(all));
  }

  // ssh KEY root@127.0.0.1 COMMAND, batch mode (never a prompt).
  Result ssh(const std::string& remote, const std::string& key = "id") {
    return e2e::command({"ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o",
                         "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o",
                         "ConnectTimeout=10", "-i", dir_ / key, "-p", std::to_string(port_),
                         "root@127.0.0.1", remote});
  }

  // Until sshd has said it listens `times` times (each start says it once).
  static bool listening(Child& c, size_t times = 1) {
    return c.wait_for([&] { return count(c.out(), "Server listening on") >= times; });
  }

  static std::string host_key_line(const std::string& log) {
    const auto at = log.find("host key ED25519 ");
    return at == std::string::npos ? "" : log.substr(at, log.find('\n', at) - at);
  }

  TempDir dir_;
  uint16_t port_ = 0;
  std::string key_;
};

TEST_F(PodSsh, LoginWorksAndTheSessionHasTheContainersEnvironment) {
  const std::string token = "hf_a b'c \"d\" $e \\f";
  Child c(pod(
      {"--", "sleep", "60"},
      {{"HF_TOKEN", token}, {"RUNPOD_PUBLIC_IP", "203.0.113.7"}, {"RUNPOD_TCP_PORT_22", "40022"}}));
  ASSERT_TRUE(listening(c)) << c.describe();
  const auto r = ssh("printf '%s|%s' \"$HF_TOKEN\" \"${PUBLIC_KEY-unset}\"");
  ASSERT_EQ(r.code, 0) << r.describe() << c.describe();
  EXPECT_EQ(r.out, token + "|unset");
  // A login shell sources the profile.d file, which restores the container's values.
  const auto profile = read_file(dir_ / "profile.d/podvisor-ssh.sh");
  const auto login =
      ssh(". " + shell_quote(dir_ / "profile.d/podvisor-ssh.sh") + " && printf %s \"$HF_TOKEN\"");
  EXPECT_EQ(login.out, token) << profile;
  // Secrets: the files are for root only, and never on sshd's command line.
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "ssh-environment").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const auto sshd = spawned_pid(c.err(), "sshd");
  ASSERT_TRUE(sshd);
  const auto cmdline = read_file("/proc/" + std::to_string(*sshd) + "/cmdline");
  EXPECT_EQ(cmdline.find("hf_a"), std::string::npos) << cmdline;
  // How to connect, in the log and in /api/v1.
  const std::string hint = "ssh root@203.0.113.7 -p 40022 -i ~/.ssh/id_ed25519";
  EXPECT_NE(c.err().find("connect with: " + hint), std::string::npos) << c.describe();
  const auto api = command(
      {"python3", data_path("control_http.py"), "unix://" + (dir_ / "s.sock"), "GET", "/api/v1"});
  EXPECT_NE(api.out.find("200\n"), std::string::npos) << api.describe();
  EXPECT_NE(api.out.find("\"ssh\":\"" + hint + "\""), std::string::npos) << api.describe();
  c.signal(SIGTERM);
  EXPECT_EQ(c.wait_exit(), 128 + SIGTERM);
}

// Seeds 000 and 002 together: the job fails, the pod holds, and SSH is the way in to look;
// a fix and `podvisor ctl start app` clear the hold.
TEST_F(PodSsh, AHeldPodKeepsSshUpForALookUntilARetrySucceeds) {
  const auto flag = dir_ / "fixed";
  Child c(pod({"--hold-on-fatal", "--no-restart", "--", "sh", "-c",
               "test -e " + shell_quote(flag) +
                   " && exec sleep 60; echo 'CUDA error: out of memory' >&2; exit 3"},
              {}));
  ASSERT_TRUE(c.wait_for([&] { return c.err().find("holding: app exited") != std::string::npos; }))
      << c.describe();
  ASSERT_TRUE(listening(c)) << c.describe();
  const auto look = ssh("echo looking");
  EXPECT_EQ(look.code, 0) << look.describe() << c.describe();
  EXPECT_EQ(look.out, "looking\n");
  const auto http = [&](const std::string& path) {
    return command({"python3", data_path("control_http.py"), "unix://" + (dir_ / "s.sock"), "GET",
                    path})
        .out;
  };
  EXPECT_EQ(http("/health"), "503\nholding: app exited (exit status 3)\n");
  // The fix, made over SSH as a person would, then the retry.
  EXPECT_EQ(ssh("touch " + shell_quote(flag)).code, 0);
  const auto retry =
      run(podvisor({"ctl", "-s", "unix://" + (dir_ / "s.sock"), "start", "app"}, {}));
  EXPECT_EQ(retry.code, 0) << retry.describe();
  ASSERT_TRUE(c.wait_for([&] { return c.err().find("hold cleared") != std::string::npos; }))
      << c.describe();
  EXPECT_EQ(http("/health"), "200\nok\n");
  c.signal(SIGTERM);
  EXPECT_EQ(c.wait_exit(), 128 + SIGTERM);
}

TEST_F(PodSsh, SecondBootAddsNoDuplicateKeyAndKeepsTheHostKey) {
  std::string first_host_key;
  for (int boot = 0; boot < 2; ++boot) {
    Child c(pod({"--", "sleep", "60"}, {}));
    ASSERT_TRUE(listening(c)) << c.describe();
    ASSERT_EQ(ssh("true").code, 0) << c.describe();
    const auto line = host_key_line(c.out());
    ASSERT_FALSE(line.empty()) << c.describe();
    if (boot == 0) first_host_key = line;
    EXPECT_EQ(line, first_host_key) << "the host key changed across a restart";
    if (boot == 1) {
      EXPECT_NE(c.out().find("1 key(s) already in"), std::string::npos) << c.describe();
      EXPECT_EQ(c.out().find("generated host key"), std::string::npos) << c.describe();
    }
    c.signal(SIGTERM);
    ASSERT_TRUE(c.wait_exit()) << c.describe();
  }
  const auto blob = key_.substr(key_.find(' ') + 1, 40);
  EXPECT_EQ(count(read_file(dir_ / "home/.ssh/authorized_keys"), blob), 1u);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "home/.ssh/authorized_keys").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir_ / "home/.ssh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(PodSsh, KilledSshdIsRestartedAndAcceptsAgain) {
  Child c(pod({"--", "sleep", "60"}, {}));
  ASSERT_TRUE(listening(c)) << c.describe();
  const auto sshd = spawned_pid(c.err(), "sshd");
  ASSERT_TRUE(sshd);
  ASSERT_EQ(::kill(*sshd, SIGKILL), 0);
  ASSERT_TRUE(listening(c, 2)) << c.describe();
  EXPECT_NE(spawned_pid(c.err(), "sshd"), sshd);
  // Listening is announced before the socket takes a login; poll until one works.
  const auto deadline = Clock::now() + kTimeout;
  Result r;
  while ((r = ssh("true")).code != 0 && Clock::now() < deadline) {
    c.wait_for([] { return false; }, 100ms, 100ms);
  }
  EXPECT_EQ(r.code, 0) << r.describe() << c.describe();
}

TEST_F(PodSsh, SigtermStopsSshdAndLeavesNothing) {
  Child c(pod({"--", "sleep", "60"}, {}));
  ASSERT_TRUE(listening(c)) << c.describe();
  const auto sshd = spawned_pid(c.err(), "sshd");
  ASSERT_TRUE(sshd);
  // A session in progress: its processes are sshd's children, in a session of their own.
  Options session;
  session.argv = {"ssh",
                  "-o",
                  "BatchMode=yes",
                  "-o",
                  "StrictHostKeyChecking=no",
                  "-o",
                  "UserKnownHostsFile=/dev/null",
                  "-o",
                  "LogLevel=ERROR",
                  "-i",
                  dir_ / "id",
                  "-p",
                  std::to_string(port_),
                  "root@127.0.0.1",
                  "echo in; exec sleep 60"};
  Child s(session);
  ASSERT_TRUE(s.wait_stdout("in")) << s.describe() << c.describe();
  const auto below = descendants(c.pid());
  EXPECT_GE(below.size(), 3u);  // sshd, the session's sshd processes, sleep
  c.signal(SIGTERM);
  EXPECT_EQ(c.wait_exit(), 128 + SIGTERM) << c.describe();
  for (const pid_t pid : below) {
    const auto state = process_state(pid);
    EXPECT_TRUE(!state || *state == 'Z')
        << process_name(pid) << " (pid " << pid << ") outlived podvisor\n"
        << c.describe();
  }
  EXPECT_TRUE(s.wait_exit()) << s.describe();
}

TEST_F(PodSsh, SeveralKeysWithCrlfCommentsAndBlankLines) {
  const auto second = make_key("id2");
  const auto keys = "\r\n# the team\r\n" + key_ + " trailing comment\r\n\r\n" + second + "\r\n";
  // SSH_PUBLIC_KEY, and --ssh (SSH would be on by itself with a key set).
  Child c(pod({"--ssh", "--", "sleep", "60"},
              {{"PUBLIC_KEY", std::nullopt}, {"SSH_PUBLIC_KEY", keys}}));
  ASSERT_TRUE(listening(c)) << c.describe();
  EXPECT_EQ(ssh("true", "id").code, 0) << c.describe();
  EXPECT_EQ(ssh("true", "id2").code, 0) << c.describe();
  EXPECT_NE(c.out().find("added 2 key(s)"), std::string::npos) << c.describe();
  EXPECT_EQ(c.out().find("not a public key"), std::string::npos) << c.describe();
}

TEST_F(PodSsh, MalformedKeyIsNamedAndTheOtherKeysStillWork) {
  Child c(pod({"--", "sleep", "60"}, {{"PUBLIC_KEY", "ssh-ed25519 AAAAtruncated\n" + key_}}));
  ASSERT_TRUE(listening(c)) << c.describe();
  EXPECT_NE(c.out().find("PUBLIC_KEY holds a line that is not a public key, skipped: "
                         "'ssh-ed25519 AAAAtruncated'"),
            std::string::npos)
      << c.describe();
  EXPECT_EQ(ssh("true").code, 0) << c.describe();
}

TEST_F(PodSsh, RejectedConfigShowsSshdsErrorAndTheCommandRunsOn) {
  Child c(pod({"--", "sleep", "60"}, {{"SUPERVISOR_SUPERVISORD_SSH_OPTIONS", "NoSuchOption=1"}}));
  EXPECT_TRUE(c.wait_stdout("sshd -t rejects the configuration")) << c.describe();
  EXPECT_TRUE(c.wait_stdout("NoSuchOption")) << c.describe();
  EXPECT_TRUE(c.wait_stderr("exited: sshd (exit status 1")) << c.describe();
  EXPECT_FALSE(c.exited()) << c.describe();
  c.signal(SIGTERM);
  EXPECT_EQ(c.wait_exit(), 128 + SIGTERM) << c.describe();
}

// The same from a supervisord.conf's [supervisord] section; `check` validates the keys; a
// configured program named sshd is the user's own and stays alone.
TEST_F(PodSsh, ConfigFileKeysCheckAndAUsersOwnSshd) {
  const auto conf = write_config(dir_, R"([supervisord]
logfile=/dev/null
ssh=true
ssh_user=root
ssh_host_key_dir=@DIR@/hostkeys
ssh_authorized_keys=@DIR@/keys
ssh_env_file=@DIR@/env
ssh_profile_file=none
ssh_env_exclude=SECRET_*, OTHER
ssh_port=)" + std::to_string(port_) + R"(
ssh_options=ListenAddress=127.0.0.1 StrictModes=no

[program:train]
command=sleep 60
)");
  EXPECT_EQ(run(podvisor({"check", "-c", conf})).code, 0);
  {
    Child c(podvisor_config(conf, {{"PUBLIC_KEY", key_}, {"SECRET_X", "s"}, {"KEPT", "k"}}));
    ASSERT_TRUE(listening(c)) << c.describe();
    const auto r = ssh("printf '%s|%s' \"${SECRET_X-none}\" \"$KEPT\"");
    EXPECT_EQ(r.out, "none|k") << r.describe() << c.describe();
    c.signal(SIGTERM);
    EXPECT_TRUE(c.wait_exit()) << c.describe();
  }
  const auto bad = write_config(dir_, "[supervisord]\nssh=maybe\nssh_port=70000\n", "bad.conf");
  const auto r = run(podvisor({"check", "-c", bad}));
  EXPECT_EQ(r.code, 2) << r.describe();
  EXPECT_NE(r.err.find("ssh"), std::string::npos) << r.describe();

  // --ssh turns it on for a supervisord.conf too.
  const auto own = write_config(dir_, R"([supervisord]
logfile=/dev/null

[program:sshd]
command=sleep 60
)",
                                "own.conf");
  auto with_ssh = podvisor_config(own, {{"PUBLIC_KEY", std::nullopt}});
  with_ssh.argv.push_back("--ssh");
  Child c(with_ssh);
  ASSERT_TRUE(c.wait_stderr("success: sshd entered RUNNING")) << c.describe();
  EXPECT_EQ(count(c.err(), "a program named 'sshd' is configured"), 1u) << c.describe();
  const auto pid = spawned_pid(c.err(), "sshd");
  ASSERT_TRUE(pid);
  EXPECT_EQ(process_name(*pid), "sleep");
  c.signal(SIGTERM);
  EXPECT_TRUE(c.wait_exit()) << c.describe();
}

// The default paths (/root/.ssh, /etc/ssh, /etc/profile.d) and sshd's default StrictModes,
// in a mount namespace where those directories are the test's own, bound over the real ones.
TEST_F(PodSsh, DefaultPathsAndStrictModesInAMountNamespace) {
  for (const auto* d : {"root", "etcssh", "profiled"}) {
    ASSERT_EQ(::mkdir((dir_ / d).c_str(), d == std::string("root") ? 0700 : 0755), 0);
  }
  if (command({"unshare", "--mount", "--propagation", "private", "true"}).code != 0) {
    GTEST_SKIP() << "unshare --mount is refused here";
  }
  const auto script = "mount --bind " + shell_quote(dir_ / "root") + " /root && mount --bind " +
                      shell_quote(dir_ / "etcssh") + " /etc/ssh && mount --bind " +
                      shell_quote(dir_ / "profiled") + " /etc/profile.d && exec " +
                      shell_quote(podvisor_binary()) + " -- sleep 60";
  Options o;
  o.argv = {"unshare", "--mount", "--propagation", "private", "sh", "-c", script};
  o.env = {{"PUBLIC_KEY", key_},
           {"HF_TOKEN", "hf_login"},
           {"SUPERVISOR_UNIX_HTTP_SERVER_FILE", "none"},
           {"SUPERVISOR_SUPERVISORD_SSH_ENV_FILE", dir_ / "ssh-environment"},
           {"SUPERVISOR_SUPERVISORD_SSH_PORT", std::to_string(port_)},
           {"SUPERVISOR_SUPERVISORD_SSH_OPTIONS", "ListenAddress=127.0.0.1"}};
  Child c(o);
  ASSERT_TRUE(listening(c)) << c.describe();
  EXPECT_NE(c.out().find("added 1 key(s) to /root/.ssh/authorized_keys"), std::string::npos)
      << c.describe();
  // A login shell: /etc/profile, then the profile.d file podvisor wrote.
  const auto r = ssh("bash -lc 'printf %s \"$HF_TOKEN\"'");
  EXPECT_EQ(r.out, "hf_login") << r.describe() << c.describe();
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "root/.ssh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((dir_ / "root/.ssh/authorized_keys").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(exists(dir_ / "etcssh/ssh_host_ed25519_key"));
  EXPECT_TRUE(exists(dir_ / "profiled/podvisor-ssh.sh"));
  c.signal(SIGTERM);
  EXPECT_TRUE(c.wait_exit()) << c.describe();
}

// No skip: this is the machine without sshd that the test simulates.
TEST(PodSshOff, NoSshdWarnsOnceAndTheExitStatusIsTheCommands) {
  TempDir dir;
  const auto r = run(podvisor({"--no-restart", "--", "sh", "-c", "exit 3"},
                              {{"PUBLIC_KEY", "ssh-ed25519 AAAA"},
                               {"SUPERVISOR_UNIX_HTTP_SERVER_FILE", "none"},
                               {"SUPERVISOR_SUPERVISORD_SSH_SSHD", dir / "no-sshd"}}));
  EXPECT_EQ(r.code, 3) << r.describe();
  EXPECT_EQ(count(r.err, "openssh-server"), 1u) << r.describe();
  EXPECT_EQ(r.err.find("spawned: 'sshd'"), std::string::npos) << r.describe();
}

TEST(PodSshOff, HelpNamesTheOptionAndTheVariables) {
  const auto r = run(podvisor({"--help"}));
  ASSERT_EQ(r.code, 0) << r.describe();
  for (const auto* word : {"--ssh", "PUBLIC_KEY", "RUNPOD_SSH_PUBLIC_KEY", "PODVISOR_SSH"}) {
    EXPECT_NE(r.out.find(word), std::string::npos) << word << "\n" << r.describe();
  }
}

TEST(PodSshOff, OffWithoutAKeyOrWithPodvisorSsh0) {
  for (const auto& env : std::vector<std::map<std::string, std::optional<std::string>>>{
           {}, {{"PUBLIC_KEY", "ssh-ed25519 AAAA"}, {"PODVISOR_SSH", "0"}}}) {
    auto all = env;
    all["SUPERVISOR_UNIX_HTTP_SERVER_FILE"] = "none";
    const auto r = run(podvisor({"--no-restart", "--", "true"}, all));
    EXPECT_EQ(r.code, 0) << r.describe();
    EXPECT_EQ(r.err.find("ssh"), std::string::npos) << r.describe();
  }
}

}  // namespace
}  // namespace e2e
