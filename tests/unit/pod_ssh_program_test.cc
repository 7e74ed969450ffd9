// When SSH at boot adds program 'sshd', and what it looks like: off unless asked for or a key
// is set; no sshd installed or a user's own 'sshd' program leaves the spec alone.
#include <gtest/gtest.h>

#include "pod/ssh_program.h"
#include "pod/ssh_text.h"

namespace podvisor::pod {
namespace {

config::SupervisorSpec single_spec() {
  config::SupervisorSpec spec;
  spec.exit_on_fatal = true;
  config::ProgramSpec app;
  app.name = "app";
  app.main = true;
  spec.programs.push_back(app);
  return spec;
}

TEST(SshWanted, KeyVariablesSwitchAndForce) {
  config::SshSpec ssh;
  EXPECT_FALSE(ssh_wanted(ssh, {}, false));
  EXPECT_FALSE(ssh_wanted(ssh, {"PUBLIC_KEY=  "}, false));
  EXPECT_TRUE(ssh_wanted(ssh, {"PUBLIC_KEY=ssh-ed25519 AAAA"}, false));
  EXPECT_TRUE(ssh_wanted(ssh, {"RUNPOD_SSH_PUBLIC_KEY=k"}, false));
  EXPECT_FALSE(ssh_wanted(ssh, {"PUBLIC_KEY=k", "PODVISOR_SSH=0"}, false));
  EXPECT_TRUE(ssh_wanted(ssh, {"PODVISOR_SSH=1"}, false));
  EXPECT_TRUE(ssh_wanted(ssh, {"PODVISOR_SSH=0"}, true));
  ssh.enabled = false;
  EXPECT_FALSE(ssh_wanted(ssh, {"SSH_PUBLIC_KEY=k"}, false));
  ssh.enabled = true;
  EXPECT_TRUE(ssh_wanted(ssh, {}, false));
}

TEST(AddSshProgram, OffLeavesTheSpecAlone) {
  auto spec = single_spec();
  const auto m = add_ssh_program(spec, {}, false, "/podvisor");
  EXPECT_TRUE(m.info.empty() && m.warnings.empty());
  EXPECT_EQ(spec.programs.size(), 1u);
}

TEST(AddSshProgram, NoSshdWarnsWithThePackageName) {
  auto spec = single_spec();
  spec.ssh.sshd = "/nonexistent/sshd";
  const auto m = add_ssh_program(spec, {"PUBLIC_KEY=k"}, false, "/podvisor");
  ASSERT_EQ(m.warnings.size(), 1u);
  EXPECT_NE(m.warnings[0].find("openssh-server"), std::string::npos);
  EXPECT_EQ(spec.programs.size(), 1u);
  EXPECT_TRUE(spec.exit_on_fatal);
}

TEST(AddSshProgram, ProgramRunsTheSetupModeReadyOnSshdsLine) {
  auto spec = single_spec();
  spec.ssh.sshd = "/bin/true";  // any executable stands in for sshd here
  spec.ssh.port = 2222;
  const auto m = add_ssh_program(
      spec, {"PUBLIC_KEY=k", "RUNPOD_PUBLIC_IP=1.2.3.4", "RUNPOD_TCP_PORT_22=40022"}, false,
      "/podvisor");
  ASSERT_EQ(spec.programs.size(), 2u);
  const auto& p = spec.programs.front();
  EXPECT_EQ(p.name, "sshd");
  ASSERT_GE(p.argv.size(), 2u);
  EXPECT_EQ(p.argv[0], "/podvisor");
  EXPECT_EQ(p.argv[1], "ssh-setup");
  const auto args = parse_setup_arguments({p.argv.begin() + 2, p.argv.end()});
  EXPECT_EQ(args.sshd, "/bin/true");
  EXPECT_EQ(args.port, 2222);
  ASSERT_TRUE(p.ready);
  EXPECT_EQ(p.ready->kind, config::ProbeSpec::Kind::kLog);
  EXPECT_EQ(p.autorestart, config::Autorestart::kTrue);
  // sshd failing for good does not end single-command mode; the main program still does.
  EXPECT_FALSE(spec.exit_on_fatal);
  EXPECT_EQ(spec.ssh.connect, "ssh root@1.2.3.4 -p 40022 -i ~/.ssh/id_ed25519");
  ASSERT_EQ(m.info.size(), 2u);
  EXPECT_NE(m.info[0].find("PUBLIC_KEY is set"), std::string::npos);
}

TEST(AddSshProgram, AUsersOwnSshdProgramIsLeftAlone) {
  auto spec = single_spec();
  spec.config_file = "/etc/supervisord.conf";
  spec.programs.front().name = "sshd";
  spec.ssh.sshd = "/bin/true";
  const auto m = add_ssh_program(spec, {}, true, "/podvisor");
  ASSERT_EQ(m.warnings.size(), 1u);
  EXPECT_NE(m.warnings[0].find("'sshd'"), std::string::npos);
  EXPECT_EQ(spec.programs.size(), 1u);
}

}  // namespace
}  // namespace podvisor::pod
