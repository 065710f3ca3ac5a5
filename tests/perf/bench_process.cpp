#include "bench_process.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iterator>
#include <sstream>
#include <system_error>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace hopscope::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Read by the signal handler, so a fixed array of plain pids rather than a container.
constexpr std::size_t max_children = 64;
std::array<pid_t, max_children> g_children{};

void register_child(pid_t pid) {
  auto* const slot = std::find(g_children.begin(), g_children.end(), 0);
  if (slot == g_children.end()) {
    kill(pid, SIGKILL);
    fail("more than 64 children at once");
  }
  *slot = pid;
}

void forget_child(pid_t pid) {
  std::replace(g_children.begin(), g_children.end(), pid, 0);
}

extern "C" void on_signal(int sig) {
  kill_all_children();  // only kill(): async-signal-safe
  _exit(128 + sig);
}

extern "C" void at_exit() {
  kill_all_children();
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool listening(std::uint16_t port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::array<char, 8> wanted{};
  std::snprintf(wanted.data(), wanted.size(), ":%04X", static_cast<unsigned>(port));
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot;
    std::string local;
    std::string remote;
    std::string state;
    fields >> slot >> local >> remote >> state;
    // "0A" is TCP_LISTEN; addresses are hex in host byte order (0100007F is 127.0.0.1).
    if (state == "0A" && local.size() > 5 && local.substr(local.size() - 5) == wanted.data() &&
        (local.rfind("0100007F", 0) == 0 || local.rfind("00000000", 0) == 0)) {
      return true;
    }
  }
  return false;
}

}  // namespace

void fail(const std::string& message) {
  std::fprintf(stderr, "hopscope_bench: %s\n", message.c_str());
  kill_all_children();
  std::exit(2);  // NOLINT(concurrency-mt-unsafe): the benchmark is single-threaded
}

std::string errno_text(int error) {
  return std::error_code(error, std::generic_category()).message();
}

void install_cleanup() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  std::atexit(at_exit);
}

void kill_all_children() {
  for (const auto child : g_children) {
    if (child > 0) {
      kill(child, SIGKILL);
    }
  }
}

pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (const auto& a : args) {
    argv.push_back(const_cast<char*>(a.c_str()));  // NOLINT(cppcoreguidelines-pro-type-const-cast)
  }
  argv.push_back(nullptr);
  const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (log_fd < 0 || null_fd < 0) {
    fail("cannot open " + log.string() + ": " + errno_text(errno));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    // Even if the benchmark is killed -9, no relay or sink is left listening.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
      _exit(127);
    }
    dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(log_fd);
  close(null_fd);
  if (pid < 0) {
    fail("fork: " + errno_text(errno));
  }
  register_child(pid);
  return pid;
}

std::optional<int> wait_for(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      forget_child(pid);
      return status;
    }
    if (r < 0 && errno != EINTR) {
      forget_child(pid);
      return -1;
    }
    if (Clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(10ms);
  }
}

void stop(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 0) {
    return;
  }
  kill(pid, SIGTERM);
  if (!wait_for(pid, grace)) {
    kill(pid, SIGKILL);
    (void)wait_for(pid, 5s);
  }
}

bool running(pid_t pid) {
  int status = 0;
  const pid_t r = waitpid(pid, &status, WNOHANG);
  if (r == pid || r < 0) {
    forget_child(pid);
    return false;
  }
  return true;
}

std::string tail(const fs::path& log, std::size_t bytes) {
  const auto text = read_text(log);
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

double thread_cpu_us() {
  timespec t{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}

std::optional<std::uint64_t> cpu_ticks(pid_t pid) {
  const auto stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');  // comm may hold spaces and parentheses
  if (paren == std::string::npos) {
    return std::nullopt;
  }
  std::istringstream fields(stat.substr(paren + 1));
  std::uint64_t utime = 0;
  std::uint64_t stime = 0;
  std::string skip;
  // proc(5): after comm come field 3 (state) ... field 14 utime, field 15 stime.
  for (int field = 3; field <= 13; ++field) {
    fields >> skip;
  }
  if (!(fields >> utime >> stime)) {
    return std::nullopt;
  }
  return utime + stime;
}

std::optional<std::uint64_t> machine_busy_ticks() {
  std::ifstream in("/proc/stat");
  std::string label;
  std::uint64_t user = 0;
  std::uint64_t nice = 0;
  std::uint64_t system = 0;
  std::uint64_t idle = 0;
  std::uint64_t iowait = 0;
  std::uint64_t irq = 0;
  std::uint64_t softirq = 0;
  // proc(5): "cpu  user nice system idle iowait irq softirq steal ...", summed over CPUs.
  if (!(in >> label >> user >> nice >> system >> idle >> iowait >> irq >> softirq) ||
      label != "cpu") {
    return std::nullopt;
  }
  return user + nice + system + irq + softirq;
}

std::optional<long> rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream value(line.substr(6));
      long kib = 0;
      if (value >> kib) {
        return kib;
      }
    }
  }
  return std::nullopt;
}

bool wait_listening(pid_t pid, std::uint16_t port, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (listening(port)) {
      return true;
    }
    if (!running(pid)) {
      return false;
    }
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

std::uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  // NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    fail("cannot pick a loopback port: " + errno_text(errno));
  }
  // NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)
  close(fd);
  return ntohs(addr.sin_port);
}

long max_connections() {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  const auto fds = std::min<rlim_t>(limit.rlim_cur, 200000);
  return fds > 400 ? static_cast<long>((fds - 200) / 2) : 100;
}

}  // namespace hopscope::bench
