#include "process.hpp"

#include <array>
#include <cerrno>
#include <csignal>
#include <ctime>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace hopscope::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

int poll_timeout(steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now());
  if (left.count() <= 0) {
    return 0;
  }
  return left.count() > 60'000 ? 60'000 : static_cast<int>(left.count());
}

int decode_status(int status) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  if (WIFSIGNALED(status)) {
    return 128 + WTERMSIG(status);
  }
  return -1;
}

std::vector<std::string> build_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view current(*entry);
    const auto name = current.substr(0, current.find('=') + 1);
    bool overridden = false;
    for (const auto& e : extra) {
      overridden = overridden || std::string_view(e).substr(0, e.find('=') + 1) == name;
    }
    if (!overridden) {
      env.emplace_back(current);
    }
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> result;
  result.reserve(strings.size() + 1);
  for (auto& s : strings) {
    result.push_back(s.data());
  }
  result.push_back(nullptr);
  return result;
}

void close_fd(int& fd) {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

std::string tail(const std::vector<std::string>& lines, const std::string& partial,
                 std::size_t count) {
  std::ostringstream text;
  const std::size_t first = lines.size() > count ? lines.size() - count : 0;
  for (std::size_t i = first; i < lines.size(); ++i) {
    text << "    " << lines[i] << '\n';
  }
  if (!partial.empty()) {
    text << "    " << partial << '\n';
  }
  return text.str();
}

}  // namespace

std::string join_command(const std::vector<std::string>& argv) {
  std::string text;
  for (const auto& arg : argv) {
    if (!text.empty()) {
      text += ' ';
    }
    if (arg.empty() || arg.find_first_of(" \t'\"\\") != std::string::npos) {
      text += '\'' + arg + '\'';
    } else {
      text += arg;
    }
  }
  return text;
}

Process::Process(std::vector<std::string> argv, const ProcessOptions& options)
    : argv_(std::move(argv)) {
  if (argv_.empty()) {
    throw std::invalid_argument("Process: empty argv");
  }
  std::array<int, 2> out_pipe{-1, -1};
  std::array<int, 2> err_pipe{-1, -1};
  std::array<int, 2> wake_pipe{-1, -1};
  if (::pipe2(out_pipe.data(), O_CLOEXEC) != 0 || ::pipe2(err_pipe.data(), O_CLOEXEC) != 0 ||
      ::pipe2(wake_pipe.data(), O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe2: ") + std::generic_category().message(errno));
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  if (!options.working_directory.empty()) {
    posix_spawn_file_actions_addchdir_np(&actions, options.working_directory.c_str());
  }

  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (const int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2}) {
    sigaddset(&defaults, sig);
  }
  // Own process group (pgid = pid) so that terminate() and the destructor reach every
  // process the child forks.
  posix_spawnattr_setflags(&attributes,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &defaults);

  std::vector<std::string> argv_copy = argv_;
  std::vector<std::string> env = build_environment(options.extra_env);
  auto argv_pointers = pointers(argv_copy);
  auto env_pointers = pointers(env);
  const int rc = ::posix_spawnp(&pid_, argv_.front().c_str(), &actions, &attributes,
                                argv_pointers.data(), env_pointers.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    ::close(wake_pipe[0]);
    ::close(wake_pipe[1]);
    pid_ = -1;
    throw std::runtime_error("cannot start " + join_command(argv_) + ": " +
                             std::generic_category().message(rc));
  }
  // A pidfd lets wait() block in poll() on the exit itself (Linux >= 5.3); without one we
  // fall back to a bounded waitpid(WNOHANG) loop.
  pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  out_.fd = out_pipe[0];
  err_.fd = err_pipe[0];
  wake_read_ = wake_pipe[0];
  wake_write_ = wake_pipe[1];
  reader_ = std::thread([this] { read_loop(); });
}

Process::~Process() {
  if (pid_ > 0 && !exit_code_) {
    ::killpg(pid_, SIGKILL);
    reap(milliseconds(10'000));
  }
  stop_reader();
  close_fd(pidfd_);
}

void Process::stop_reader() {
  if (reader_.joinable()) {
    const char byte = 'x';
    [[maybe_unused]] const auto written = ::write(wake_write_, &byte, 1);
    reader_.join();
  }
  close_fd(wake_read_);
  close_fd(wake_write_);
  close_fd(out_.fd);
  close_fd(err_.fd);
}

void Process::consume(Capture& capture, const char* data, std::size_t size) {
  const std::lock_guard lock(mutex_);
  capture.raw.append(data, size);
  capture.partial.append(data, size);
  std::size_t start = 0;
  for (std::size_t nl = capture.partial.find('\n'); nl != std::string::npos;
       nl = capture.partial.find('\n', start)) {
    std::string line = capture.partial.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    capture.lines.push_back(std::move(line));
    start = nl + 1;
  }
  capture.partial.erase(0, start);
}

void Process::read_loop() {
  std::array<char, 65536> buffer{};
  for (;;) {
    std::array<pollfd, 3> fds{};
    fds[0] = {wake_read_, POLLIN, 0};
    fds[1] = {out_.eof ? -1 : out_.fd, POLLIN, 0};
    fds[2] = {err_.eof ? -1 : err_.fd, POLLIN, 0};
    if (out_.eof && err_.eof) {
      return;
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      return;
    }
    if (fds[0].revents != 0) {
      return;
    }
    for (std::size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0) {
        continue;
      }
      Capture& capture = i == 1 ? out_ : err_;
      const ssize_t n = ::read(capture.fd, buffer.data(), buffer.size());
      if (n > 0) {
        consume(capture, buffer.data(), static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        const std::lock_guard lock(mutex_);
        if (!capture.partial.empty()) {
          capture.lines.push_back(std::exchange(capture.partial, {}));
        }
        capture.eof = true;
      }
    }
    changed_.notify_all();
  }
}

std::optional<LineMatch> Process::wait_for_line(Stream stream, const std::regex& pattern,
                                                milliseconds timeout, std::size_t from_line) {
  const auto deadline = steady_clock::now() + timeout;
  std::unique_lock lock(mutex_);
  const Capture& capture = stream == Stream::out ? out_ : err_;
  std::size_t next = from_line;
  for (;;) {
    for (; next < capture.lines.size(); ++next) {
      std::smatch match;
      if (std::regex_search(capture.lines[next], match, pattern)) {
        LineMatch result{next, capture.lines[next], {}};
        for (const auto& group : match) {
          result.groups.push_back(group.str());
        }
        return result;
      }
    }
    if (capture.eof) {
      return std::nullopt;
    }
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout &&
        next >= capture.lines.size()) {
      return std::nullopt;
    }
  }
}

bool Process::wait_for_eof(milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return out_.eof && err_.eof; });
}

bool Process::reap(milliseconds timeout) {
  if (exit_code_) {
    return true;
  }
  const auto deadline = steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = decode_status(status);
      return true;
    }
    if (r < 0 && errno != EINTR) {
      exit_code_ = -1;  // not our child any more: nothing left to wait for
      return true;
    }
    if (steady_clock::now() >= deadline) {
      return false;
    }
    if (pidfd_ >= 0) {
      pollfd fd{pidfd_, POLLIN, 0};
      ::poll(&fd, 1, poll_timeout(deadline));
    } else {
      // Bounded retry loop: no pidfd on this kernel, so poll the exit every 5 ms.
      const timespec step{0, 5'000'000};
      ::nanosleep(&step, nullptr);
    }
  }
}

std::optional<int> Process::wait(milliseconds timeout) {
  if (!reap(timeout)) {
    return std::nullopt;
  }
  return exit_code_;
}

int Process::terminate(milliseconds grace) {
  if (exit_code_) {
    return *exit_code_;
  }
  ::killpg(pid_, SIGTERM);
  if (!reap(grace)) {
    ::killpg(pid_, SIGKILL);
    reap(milliseconds(10'000));
  }
  return exit_code_.value_or(-1);
}

bool Process::running() {
  return !reap(milliseconds(0));
}

std::string Process::output(Stream stream) const {
  const std::lock_guard lock(mutex_);
  return stream == Stream::out ? out_.raw : err_.raw;
}

std::vector<std::string> Process::lines(Stream stream) const {
  const std::lock_guard lock(mutex_);
  return stream == Stream::out ? out_.lines : err_.lines;
}

std::string Process::describe(std::size_t tail_lines) const {
  const std::lock_guard lock(mutex_);
  std::ostringstream text;
  text << "command: " << join_command(argv_) << "\n";
  text << "exit: " << (exit_code_ ? std::to_string(*exit_code_) : std::string("running")) << "\n";
  text << "stderr (last " << tail_lines << " lines):\n"
       << tail(err_.lines, err_.partial, tail_lines);
  text << "stdout (last " << tail_lines << " lines):\n"
       << tail(out_.lines, out_.partial, tail_lines);
  return text.str();
}

}  // namespace hopscope::test
