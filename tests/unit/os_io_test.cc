#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "os/io.h"

namespace podvisor::os {
namespace {

class FileHelpers : public testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/podvisor-io-XXXXXX";
    ASSERT_NE(::mkdtemp(name), nullptr);
    dir_ = name;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  static std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  static mode_t mode_of(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
  }
  std::string dir_;
};

TEST(ParentDirectory, OfAbsoluteAndBarePaths) {
  EXPECT_EQ(parent_directory("/a/b/c"), "/a/b");
  EXPECT_EQ(parent_directory("/c"), "/");
  EXPECT_EQ(parent_directory("c"), "/");
}

TEST_F(FileHelpers, MakeDirectoriesGivesTheLastOneItsMode) {
  const auto deep = dir_ + "/a/b/c";
  EXPECT_EQ(make_directories(deep, 0700), std::nullopt);
  EXPECT_EQ(mode_of(dir_ + "/a"), 0755u);
  EXPECT_EQ(mode_of(deep), 0700u);
  EXPECT_EQ(make_directories(deep, 0700), std::nullopt);  // already there
}

TEST_F(FileHelpers, MakeDirectoriesNamesTheOneItCouldNotMake) {
  std::ofstream(dir_ + "/file") << "x";
  EXPECT_EQ(make_directories(dir_ + "/file/sub/deeper"), dir_ + "/file/sub");
  EXPECT_EQ(errno, ENOTDIR);
}

TEST_F(FileHelpers, WriteFileAtomicallyReplacesWholeWithItsMode) {
  const auto path = dir_ + "/f";
  std::ofstream(path) << "old and longer";
  EXPECT_EQ(write_file_atomically(path, "new", 0600), std::nullopt);
  EXPECT_EQ(read(path), "new");
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 1);  // no temporary
}

TEST_F(FileHelpers, WriteFileAtomicallySaysWhichStepFailed) {
  EXPECT_EQ(write_file_atomically(dir_ + "/missing/f", "x", 0644), "open");
  EXPECT_EQ(errno, ENOENT);
  std::filesystem::create_directory(dir_ + "/d");
  EXPECT_EQ(write_file_atomically(dir_ + "/d", "x", 0644), "rename");  // a directory is there
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 1);
}

}  // namespace
}  // namespace podvisor::os
