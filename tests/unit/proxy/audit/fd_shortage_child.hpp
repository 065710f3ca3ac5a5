// Runs a test body in a forked child whose descriptor table the body may exhaust
// (RLIMIT_NOFILE, dup(2)) without starving GoogleTest in the parent. Test support only.
#pragma once

#include <array>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <fcntl.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

// The sanitizer runtime needs free descriptors itself (UBSan's vptr check calls pipe(2)) and
// aborts on the false errors it reports at the limit: these tests cannot run sanitized.
#if defined(__SANITIZE_ADDRESS__)
#  define HOPSCOPE_SKIP_WHEN_SANITIZED()                                                  \
    GTEST_SKIP() << "sanitized build: the sanitizer runtime needs free file descriptors " \
                    "(pipe(2) in its vptr check) and reports false errors at the limit"
#else
#  define HOPSCOPE_SKIP_WHEN_SANITIZED() static_cast<void>(0)
#endif

namespace hopscope::fd_test {

// Runs `body` in a child process; returns what it returned ("" for success), or why the
// child did not finish. The child is killed by SIGALRM after `seconds`.
inline std::string in_child(const std::function<std::string()>& body, unsigned seconds = 60) {
  std::array<int, 2> pipe_fds{};
  if (::pipe(pipe_fds.data()) != 0) {
    return "pipe(2) failed";
  }
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    return "fork(2) failed";
  }
  if (pid == 0) {
    ::close(pipe_fds[0]);
    ::alarm(seconds);
    // 0-2 open, so that a limit of 3 leaves no number free (CI may start us without stdin).
    for (int fd = 0; fd < 3; ++fd) {
      if (::fcntl(fd, F_GETFD) < 0) {
        ::open("/dev/null", O_RDWR);  // takes the lowest free number: this one
      }
    }
    std::string result;
    try {
      result = body();
    } catch (...) {
      result = "the child threw";
    }
    const char* p = result.data();
    std::size_t left = result.size();
    while (left > 0) {
      const auto n = ::write(pipe_fds[1], p, left);
      if (n <= 0) {
        break;
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string out;
  std::array<char, 4096> buf{};
  for (;;) {
    const auto n = ::read(pipe_fds[0], buf.data(), buf.size());
    if (n <= 0) {
      break;
    }
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    out += " (the child ended abnormally, status " + std::to_string(status) + ")";
  }
  return out;
}

// Lowers the soft RLIMIT_NOFILE to `limit`; restores the old one when destroyed. Below the
// lowest descriptor number the process holds open beyond 0-2 (limit 3), no open(2) or dup(2)
// can succeed, and closing a descriptor numbered above the limit frees nothing usable.
class DescriptorLimit {
 public:
  explicit DescriptorLimit(rlim_t limit) {
    ::getrlimit(RLIMIT_NOFILE, &old_);
    const rlimit lowered{limit, old_.rlim_max};
    ok_ = ::setrlimit(RLIMIT_NOFILE, &lowered) == 0;
  }
  ~DescriptorLimit() { restore(); }
  DescriptorLimit(const DescriptorLimit&) = delete;
  DescriptorLimit& operator=(const DescriptorLimit&) = delete;
  DescriptorLimit(DescriptorLimit&&) = delete;
  DescriptorLimit& operator=(DescriptorLimit&&) = delete;

  [[nodiscard]] bool ok() const { return ok_; }
  void restore() {
    if (ok_) {
      ::setrlimit(RLIMIT_NOFILE, &old_);
      ok_ = false;
    }
  }

 private:
  rlimit old_{};
  bool ok_ = false;
};

// Drops root for the rest of the child (tests often run as root in containers, where
// permissions do not bind): a folder without write permission then refuses mkdir(2) with
// EACCES, which needs no descriptor. Returns "" or why not.
inline std::string drop_root() {
  constexpr uid_t nobody = 65534;
  if (::geteuid() != 0) {
    return "";
  }
  if (::setgroups(0, nullptr) != 0 || ::setgid(nobody) != 0 || ::setuid(nobody) != 0) {
    return "could not drop root";
  }
  return "";
}

// Makes `dir` refuse new entries (0555) with an empty sessions.jsonl in it: every document
// is lost at mkdir(2) of its date folder, before it needs a descriptor, while its summary
// line still goes to sessions.jsonl, which needs one. Call after drop_root(). "" or why not.
inline std::string documents_refused_index_open(const std::string& dir) {
  const auto index = dir + "/sessions.jsonl";
  const int fd = ::open(index.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    return "could not create " + index;
  }
  ::close(fd);
  if (::chmod(dir.c_str(), 0555) != 0) {
    return "could not chmod " + dir;
  }
  return "";
}

// The highest descriptor number open now, or -1.
inline int highest_open_descriptor() {
  int highest = -1;
  for (int fd = 0; fd < 4096; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0) {
      highest = fd;
    }
  }
  return highest;
}

// Takes every free descriptor number below the soft limit with dup(2); closes them when
// destroyed (or one by one with free_one()).
class FullTable {
 public:
  FullTable() {
    for (int fd = ::dup(0); fd >= 0; fd = ::dup(0)) {
      held_.push_back(fd);
    }
  }
  ~FullTable() {
    while (free_one()) {
    }
  }
  FullTable(const FullTable&) = delete;
  FullTable& operator=(const FullTable&) = delete;
  FullTable(FullTable&&) = delete;
  FullTable& operator=(FullTable&&) = delete;

  [[nodiscard]] std::size_t held() const { return held_.size(); }
  bool free_one() {
    if (held_.empty()) {
      return false;
    }
    ::close(held_.back());
    held_.pop_back();
    return true;
  }

 private:
  std::vector<int> held_;
};

}  // namespace hopscope::fd_test
