// audit.directory at start-up: created when missing, and a directory that cannot hold
// documents is named with the errno text (a warning for the caller, never a refusal).
#include "config/audit_directory.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hopscope::config {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (fs::temp_directory_path() / "hopscope-auditdir-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void touch(const fs::path& file) {
  std::ofstream(file) << "not a directory\n";
}

TEST(AuditDirectory, CreateMakesEveryMissingLevelAndLeavesNoProbeBehind) {
  const ScratchDir scratch;
  const auto dir = scratch.path() / "a" / "b" / "audit";
  EXPECT_EQ(audit_directory_problem(dir.string(), DirectoryCheck::create), "");
  ASSERT_TRUE(fs::is_directory(dir));
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST(AuditDirectory, InspectAcceptsAMissingDirectoryWithoutCreatingIt) {
  const ScratchDir scratch;
  const auto dir = scratch.path() / "a" / "audit";
  EXPECT_EQ(audit_directory_problem(dir.string(), DirectoryCheck::inspect), "");
  EXPECT_FALSE(fs::exists(scratch.path() / "a"));
}

TEST(AuditDirectory, ExistingWritableDirectoryIsFineEitherWay) {
  const ScratchDir scratch;
  EXPECT_EQ(audit_directory_problem(scratch.path().string(), DirectoryCheck::inspect), "");
  EXPECT_EQ(audit_directory_problem(scratch.path().string() + "/", DirectoryCheck::create), "");
  EXPECT_TRUE(fs::is_empty(scratch.path()));
}

TEST(AuditDirectory, RegularFileIsNamedWithTheErrnoTextEitherWay) {
  const ScratchDir scratch;
  const auto file = scratch.path() / "audit";
  touch(file);
  for (const auto how : {DirectoryCheck::inspect, DirectoryCheck::create}) {
    EXPECT_EQ(audit_directory_problem(file.string(), how), "is not a directory: Not a directory");
  }
  EXPECT_TRUE(fs::is_regular_file(file));  // never replaced
}

TEST(AuditDirectory, RegularFileAsAParentIsNamedEitherWay) {
  const ScratchDir scratch;
  const auto file = scratch.path() / "file";
  touch(file);
  const auto dir = file / "audit";
  for (const auto how : {DirectoryCheck::inspect, DirectoryCheck::create}) {
    const auto problem = audit_directory_problem(dir.string(), how);
    EXPECT_THAT(problem, HasSubstr("cannot be created"));
    EXPECT_THAT(problem, HasSubstr("Not a directory"));
  }
}

TEST(AuditDirectory, ConsequenceSaysMailKeepsFlowing) {
  EXPECT_THAT(audit_directory_consequence(), HasSubstr("mail keeps flowing"));
  EXPECT_THAT(audit_directory_consequence(), HasSubstr("lost"));
}

}  // namespace
}  // namespace hopscope::config
