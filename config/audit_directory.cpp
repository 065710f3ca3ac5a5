#include "config/audit_directory.hpp"

#include <cerrno>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hopscope::config {

namespace {

constexpr mode_t folder_mode = 0750;  // as AuditWriter creates its folders

std::string errno_text(int error) {
  return std::generic_category().message(error);
}

// mkdir -p. Returns 0 or the errno of the first component that could not be made.
int make_folders(const std::string& path) {
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    const std::string prefix = path.substr(0, pos);
    if (prefix.empty() || prefix == "." || prefix == "..") {
      continue;
    }
    if (::mkdir(prefix.c_str(), folder_mode) != 0 && errno != EEXIST) {
      return errno;
    }
  }
  return 0;
}

// `path` exists: is it a directory we can create (and remove) a file in?
std::string probe_directory(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int error = errno;
    return "cannot be used: " + errno_text(error);
  }
  if (!S_ISDIR(st.st_mode)) {
    return "is not a directory: " + errno_text(ENOTDIR);
  }
  // A probe file rather than access(2): access says yes to root on a read-only file system.
  const std::string probe = path + "/.hopscope-probe-" + std::to_string(::getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int error = errno;
    return "is not writable: cannot create a file in it: " + errno_text(error);
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return {};
}

// `path` does not exist: it can be created when its nearest existing parent is a directory
// we may write in.
std::string judge_missing(const std::string& path) {
  std::string parent = path;
  for (;;) {
    while (parent.size() > 1 && parent.back() == '/') {
      parent.pop_back();
    }
    const auto slash = parent.rfind('/');
    if (slash == std::string::npos) {
      parent = ".";
    } else {
      parent = slash == 0 ? "/" : parent.substr(0, slash);
    }
    struct stat st {};
    if (::stat(parent.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) {
        return "cannot be created: " + parent + " is not a directory: " + errno_text(ENOTDIR);
      }
      if (::access(parent.c_str(), W_OK | X_OK) != 0) {
        const int error = errno;
        return "cannot be created in " + parent + ": " + errno_text(error);
      }
      return {};
    }
    if (errno != ENOENT || parent == "." || parent == "/") {
      const int error = errno;
      return "cannot be created: " + parent + ": " + errno_text(error);
    }
  }
}

}  // namespace

std::string audit_directory_problem(const std::string& directory, DirectoryCheck how) {
  // AuditWriter reads "" as the working directory.
  const std::string path = directory.empty() ? std::string(".") : directory;
  if (how == DirectoryCheck::create) {
    if (const int error = make_folders(path); error != 0) {
      // A `path` that exists as a file is EEXIST, left to probe_directory to name.
      return std::string(error == ENOTDIR ? "cannot be created: a parent is not a directory: "
                                          : "cannot be created: ") +
             errno_text(error);
    }
    return probe_directory(path);
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int error = errno;
    if (error == ENOENT) {
      return judge_missing(path);
    }
    if (error == ENOTDIR) {
      return "cannot be created: a parent is not a directory: " + errno_text(error);
    }
    return "cannot be used: " + errno_text(error);
  }
  return probe_directory(path);
}

std::string audit_directory_consequence() {
  return "mail keeps flowing, but every audit document will be lost until this is fixed";
}

}  // namespace hopscope::config
