#include "document_floor.hpp"

#include <array>
#include <cerrno>
#include <cstdio>
#include <string_view>
#include <system_error>
#include <vector>

#include "bench_process.hpp"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

namespace hopscope::bench {
namespace {

std::string file_system_name(const std::filesystem::path& folder) {
  struct statfs s {};
  if (::statfs(folder.c_str(), &s) != 0) {
    return "unknown";
  }
  // The magic numbers of linux/magic.h for the file systems an audit folder is likely on.
  switch (static_cast<unsigned long>(s.f_type)) {
    case 0x01021994UL:
      return "tmpfs";
    case 0xEF53UL:
      return "ext4";
    case 0x58465342UL:
      return "xfs";
    case 0x9123683EUL:
      return "btrfs";
    case 0x794C7630UL:
      return "overlayfs";
    default: {
      std::array<char, 32> hex{};
      std::snprintf(hex.data(), hex.size(), "0x%lx", static_cast<unsigned long>(s.f_type));
      return hex.data();
    }
  }
}

std::string failed(const char* step) {
  return std::string(step) + ": " + errno_text(errno);
}

}  // namespace

DocumentFloor measure_document_floor(const std::filesystem::path& scratch, std::size_t bytes,
                                     int documents) {
  DocumentFloor floor;
  if (::mkdir(scratch.c_str(), 0750) != 0) {
    floor.error = failed("mkdir");
    return floor;
  }
  floor.file_system = file_system_name(scratch);
  const int dir = ::open(scratch.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (dir < 0) {
    floor.error = failed("open the folder");
    return floor;
  }
  const std::string body(bytes, 'x');
  std::vector<std::string> names;
  names.reserve(static_cast<std::size_t>(documents));
  for (int i = 0; i < documents; ++i) {
    names.push_back("20261125T000000Z-000000-" + std::to_string(i) + ".json");
  }
  const double start = thread_cpu_us();
  for (const auto& name : names) {
    const int fd = ::openat(dir, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0640);
    if (fd < 0) {
      floor.error = failed("open(O_TMPFILE)");
      break;
    }
    const auto written = ::write(fd, body.data(), body.size());
    const std::string proc = "/proc/self/fd/" + std::to_string(fd);
    const bool linked = written == static_cast<ssize_t>(body.size()) &&
                        ::linkat(AT_FDCWD, proc.c_str(), dir, name.c_str(), AT_SYMLINK_FOLLOW) == 0;
    if (!linked) {
      floor.error = failed(written == static_cast<ssize_t>(body.size()) ? "linkat" : "write");
    }
    ::close(fd);
    if (!linked) {
      break;
    }
  }
  const double spent = thread_cpu_us() - start;
  if (floor.error.empty() && documents > 0) {
    floor.cpu_us = spent / documents;
  }
  for (const auto& name : names) {
    ::unlinkat(dir, name.c_str(), 0);
  }
  ::close(dir);
  std::error_code ignored;
  std::filesystem::remove_all(scratch, ignored);
  return floor;
}

}  // namespace hopscope::bench
