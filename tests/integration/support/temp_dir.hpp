// A private temporary directory for one test, removed when the test ends.
// Test support only: never used by the product. Created mode 0755 so that unprivileged
// daemons a test starts (Postfix runs its daemons as `postfix`) can traverse it.
#pragma once

#include <filesystem>
#include <string_view>

namespace hopscope::test {

class TempDir {
 public:
  // Creates <$TMPDIR or /tmp>/<prefix>-XXXXXX. Throws std::system_error on failure.
  explicit TempDir(std::string_view prefix);
  // Removes the tree unless keep() was called or HOPSCOPE_KEEP_TEST_DIRS is set in the
  // environment (for post-mortem debugging of a failed run).
  ~TempDir();

  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&&) = delete;
  TempDir& operator=(TempDir&&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  void keep() { keep_ = true; }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

// Writes bytes to a file exactly as given (binary), replacing it. Throws std::runtime_error.
void write_file(const std::filesystem::path& file, std::string_view bytes);
// Reads a whole file (binary). Throws std::runtime_error if it cannot be opened.
[[nodiscard]] std::string read_file(const std::filesystem::path& file);

}  // namespace hopscope::test
