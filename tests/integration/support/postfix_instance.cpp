#include "postfix_instance.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include "net.hpp"
#include "process.hpp"
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hopscope::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

// The unprivileged account delivery runs as: Postfix's own mail_owner, else nobody.
struct Account {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

Account delivery_account() {
  for (const char* name : {"postfix", "nobody"}) {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): tests start instances from one thread
    if (const passwd* entry = ::getpwnam(name); entry != nullptr) {
      return {name, entry->pw_uid, entry->pw_gid};
    }
  }
  throw PostfixError("PostfixInstance: neither user postfix nor nobody exists");
}

std::string tail_of(const std::string& text, std::size_t count) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  std::string out;
  for (std::size_t i = lines.size() > count ? lines.size() - count : 0; i < lines.size(); ++i) {
    out += "    " + lines[i] + "\n";
  }
  return out;
}

void pause_briefly() {
  const timespec step{0, 20'000'000};  // bounded polling loops below: 20 ms between looks
  ::nanosleep(&step, nullptr);
}

// Live (non-zombie) processes whose process group is `pgid`, read from /proc. The Postfix
// master is not our child (it daemonises), so waitpid cannot tell us when it is gone.
std::size_t live_members(pid_t pgid) {
  std::size_t count = 0;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) {
      continue;
    }
    std::ifstream stat(entry.path() / "stat");
    std::string text;
    std::getline(stat, text);
    // "pid (comm) state ppid pgrp ...": comm may hold spaces, so parse after the last ')'.
    const auto close = text.rfind(')');
    if (close == std::string::npos) {
      continue;
    }
    std::istringstream fields(text.substr(close + 1));
    char state = 0;
    long ppid = 0;
    long pgrp = 0;
    fields >> state >> ppid >> pgrp;
    if (fields && pgrp == pgid && state != 'Z' && state != 'X') {
      ++count;
    }
  }
  return count;
}

}  // namespace

PostfixInstance::PostfixInstance(const PostfixOptions& options)
    : dir_(std::make_unique<TempDir>("hopscope-postfix")),
      port_(options.port != 0 ? options.port : free_loopback_port()),
      domain_(options.domain) {
  write_config(options);
  const std::string config = config_directory().string();

  Process check({"postfix", "-c", config, "check"});
  const auto checked = check.wait(milliseconds(30'000));
  if (!checked || *checked != 0) {
    fail("`postfix -c " + config + " check` failed\n" + check.describe());
  }

  Process start({"postfix", "-c", config, "start"});
  const auto started = start.wait(options.start_timeout);
  if (!started || *started != 0) {
    fail("`postfix -c " + config + " start` failed\n" + start.describe());
  }
  {
    std::ifstream pid_file(directory() / "queue" / "pid" / "master.pid");
    long pid = -1;
    pid_file >> pid;
    master_pid_ = pid_file ? static_cast<pid_t>(pid) : -1;
  }
  if (!wait_for_port(host(), port_, options.start_timeout)) {
    fail("Postfix started but " + address() + " does not accept connections\n" + start.describe());
  }
}

PostfixInstance::~PostfixInstance() {
  stop();
}

void PostfixInstance::stop() noexcept {
  if (master_pid_ <= 0) {
    return;
  }
  // The master's SIGTERM handler terminates its children and exits (master(8)); it is a
  // session leader, so every daemon it started shares its process group.
  ::kill(master_pid_, SIGTERM);
  auto deadline = steady_clock::now() + milliseconds(10'000);
  while (live_members(master_pid_) > 0 && steady_clock::now() < deadline) {
    pause_briefly();
  }
  if (live_members(master_pid_) > 0) {
    ::killpg(master_pid_, SIGKILL);
    deadline = steady_clock::now() + milliseconds(5'000);
    while (live_members(master_pid_) > 0 && steady_clock::now() < deadline) {
      pause_briefly();
    }
  }
  master_pid_ = -1;
}

void PostfixInstance::fail(const std::string& what) const {
  std::string message = "PostfixInstance in " + directory().string() + ": " + what;
  message += "maillog " + maillog().string() + " (last 40 lines):\n" + maillog_tail(40);
  dir_->keep();  // left on disk for post-mortem
  message += "(directory kept for inspection)\n";
  throw PostfixError(message);
}

void PostfixInstance::write_config(const PostfixOptions& options) const {
  const Account account = delivery_account();
  const fs::path etc = config_directory();
  const fs::path queue = directory() / "queue";
  const fs::path data = directory() / "data";
  const fs::path mail = directory() / "mail";
  for (const auto& d : {etc, queue, data, mail}) {
    fs::create_directory(d);
    ::chmod(d.c_str(), 0755);
  }
  // Postfix wants data_directory owned by mail_owner; virtual(8) writes the maildir as the
  // account from virtual_uid_maps.
  if (::chown(data.c_str(), account.uid, account.gid) != 0 ||
      ::chown(mail.c_str(), account.uid, account.gid) != 0) {
    fail("chown to " + account.name + " failed (tests must run as root)\n");
  }

  std::ostringstream main_cf;
  main_cf << "compatibility_level = 3.6\n"
          << "queue_directory = " << queue.string() << "\n"
          << "data_directory = " << data.string() << "\n"
          << "mail_owner = postfix\n"
          << "setgid_group = postdrop\n"
          << "myhostname = " << options.hostname << "\n"
          << "mydomain = " << options.domain << "\n"
          << "myorigin = $myhostname\n"
          // Nothing is delivered by local(8): the test domain is a virtual mailbox domain.
          << "mydestination =\n"
          << "alias_maps =\n"
          << "alias_database =\n"
          << "inet_interfaces = 127.0.0.1\n"
          << "inet_protocols = ipv4\n"
          << "mynetworks = 127.0.0.0/8\n"
          // No DNS at all: the tests have no network beyond loopback.
          << "smtp_host_lookup = native\n"
          << "smtp_dns_support_level = disabled\n"
          << "smtpd_peername_lookup = no\n"
          << "maillog_file_prefixes = " << directory().string() << "\n"
          << "maillog_file = " << maillog().string() << "\n"
          << "virtual_mailbox_domains = " << options.domain << "\n"
          << "virtual_mailbox_base = " << mail.string() << "\n"
          << "virtual_mailbox_maps = texthash:" << (etc / "vmailbox").string() << "\n"
          << "virtual_uid_maps = static:" << account.uid << "\n"
          << "virtual_gid_maps = static:" << account.gid << "\n"
          << "virtual_minimum_uid = 1\n"
          // Clients on 127.0.0.1 count as local by default, and Postfix would then rewrite
          // their headers (add Date:, Message-ID:, qualify addresses): we compare bytes.
          << "local_header_rewrite_clients =\n"
          << "in_flow_delay = 0\n"
          << "smtpd_error_sleep_time = 0\n"
          << "default_process_limit = 20\n"
          << "biff = no\n"
          << "smtpd_banner = $myhostname ESMTP\n"
          << "smtpd_tls_loglevel = 1\n";
  switch (options.tls) {
    case PostfixTls::none:
      main_cf << "smtpd_tls_security_level = none\n";
      break;
    case PostfixTls::may:
      main_cf << "smtpd_tls_security_level = may\n";
      break;
    case PostfixTls::encrypt:
      main_cf << "smtpd_tls_security_level = encrypt\n";
      break;
  }
  if (options.tls != PostfixTls::none) {
    main_cf << "smtpd_tls_cert_file = " << options.cert_file.string() << "\n"
            << "smtpd_tls_key_file = " << options.key_file.string() << "\n";
  }
  if (!options.tls_protocols.empty()) {
    main_cf << "smtpd_tls_protocols = " << options.tls_protocols << "\n"
            << "smtpd_tls_mandatory_protocols = " << options.tls_protocols << "\n";
  }
  if (!options.discard_ehlo_keywords.empty()) {
    main_cf << "smtpd_discard_ehlo_keywords =";
    for (const auto& keyword : options.discard_ehlo_keywords) {
      main_cf << ' ' << keyword;
    }
    main_cf << "\n";
  }
  for (const auto& line : options.extra_main_cf) {
    main_cf << line << "\n";
  }
  write_file(etc / "main.cf", main_cf.str());

  // master(5): only the services a relay-less virtual delivery needs; nothing chrooted.
  std::ostringstream master_cf;
  master_cf << "127.0.0.1:" << port_ << " inet n - n - - smtpd\n"
            << "pickup    unix  n - n 60   1 pickup\n"
            << "cleanup   unix  n - n -    0 cleanup\n"
            << "qmgr      unix  n - n 300  1 qmgr\n"
            << "tlsmgr    unix  - - n 1000? 1 tlsmgr\n"
            << "rewrite   unix  - - n -    - trivial-rewrite\n"
            << "bounce    unix  - - n -    0 bounce\n"
            << "defer     unix  - - n -    0 bounce\n"
            << "trace     unix  - - n -    0 bounce\n"
            << "verify    unix  - - n -    1 verify\n"
            << "flush     unix  n - n 1000? 0 flush\n"
            << "proxymap  unix  - - n -    - proxymap\n"
            << "smtp      unix  - - n -    - smtp\n"
            << "relay     unix  - - n -    - smtp\n"
            << "showq     unix  n - n -    - showq\n"
            << "error     unix  - - n -    - error\n"
            << "retry     unix  - - n -    - error\n"
            << "discard   unix  - - n -    - discard\n"
            << "local     unix  - n n -    - local\n"
            << "virtual   unix  - n n -    - virtual\n"
            << "anvil     unix  - - n -    1 anvil\n"
            << "scache    unix  - - n -    1 scache\n"
            << "postlog   unix-dgram n - n - 1 postlogd\n";
  write_file(etc / "master.cf", master_cf.str());

  // Catch-all: every user of the domain lands in one maildir (trailing "/" = maildir).
  write_file(etc / "vmailbox", "@" + options.domain + " " + options.domain + "/\n");
}

fs::path PostfixInstance::maildir() const {
  return directory() / "mail" / domain_;
}

std::string PostfixInstance::maillog_tail(std::size_t lines) const {
  std::error_code error;
  if (!fs::exists(maillog(), error)) {
    return "    (no maillog written)\n";
  }
  return tail_of(read_file(maillog()), lines);
}

std::size_t PostfixInstance::wait_for_messages(std::size_t n, milliseconds timeout) const {
  const auto deadline = steady_clock::now() + timeout;
  for (;;) {
    std::size_t count = 0;
    std::error_code error;
    for (const char* sub : {"new", "cur"}) {
      for (const auto& entry : fs::directory_iterator(maildir() / sub, error)) {
        count += entry.is_regular_file() ? 1U : 0U;
      }
    }
    if (count >= n || steady_clock::now() >= deadline) {
      return count;
    }
    pause_briefly();
  }
}

std::vector<std::string> PostfixInstance::messages() const {
  std::vector<std::pair<fs::file_time_type, fs::path>> files;
  std::error_code error;
  for (const char* sub : {"new", "cur"}) {
    for (const auto& entry : fs::directory_iterator(maildir() / sub, error)) {
      if (entry.is_regular_file()) {
        files.emplace_back(entry.last_write_time(), entry.path());
      }
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> contents;
  contents.reserve(files.size());
  for (const auto& file : files) {
    contents.push_back(read_file(file.second));
  }
  return contents;
}

std::string strip_delivery_headers(std::string_view delivered) {
  // Split into header fields (a field = its first line plus continuation lines).
  auto line_end = [&](std::size_t from) {
    const auto nl = delivered.find('\n', from);
    return nl == std::string_view::npos ? delivered.size() : nl + 1;
  };
  auto field_end = [&](std::size_t from) {
    std::size_t end = line_end(from);
    while (end < delivered.size() && (delivered[end] == ' ' || delivered[end] == '\t')) {
      end = line_end(end);
    }
    return end;
  };
  auto starts_with_name = [&](std::size_t at, std::string_view name) {
    if (delivered.size() - at < name.size()) {
      return false;
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(delivered[at + i])) !=
          std::tolower(static_cast<unsigned char>(name[i]))) {
        return false;
      }
    }
    return true;
  };
  std::size_t at = 0;
  bool received_seen = false;
  for (;;) {
    if (starts_with_name(at, "Return-Path:") || starts_with_name(at, "Delivered-To:") ||
        starts_with_name(at, "X-Original-To:")) {
      at = field_end(at);
    } else if (!received_seen && starts_with_name(at, "Received:")) {
      at = field_end(at);
      received_seen = true;
    } else {
      break;
    }
  }
  std::string out;
  out.reserve(delivered.size() - at + 256);
  for (std::size_t i = at; i < delivered.size(); ++i) {
    if (delivered[i] == '\n' && (i == 0 || delivered[i - 1] != '\r')) {
      out += '\r';
    }
    out += delivered[i];
  }
  return out;
}

std::string message_body(std::string_view message) {
  const auto crlf = message.find("\r\n\r\n");
  const auto lf = message.find("\n\n");
  if (crlf != std::string_view::npos && (lf == std::string_view::npos || crlf < lf)) {
    return std::string(message.substr(crlf + 4));
  }
  if (lf != std::string_view::npos) {
    return std::string(message.substr(lf + 2));
  }
  return {};
}

}  // namespace hopscope::test
