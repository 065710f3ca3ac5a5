#include "proxy/audit_writer.hpp"

#include <cerrno>
#include <exception>
#include <string_view>
#include <system_error>
#include <utility>

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hopscope {
namespace {

constexpr mode_t folder_mode = 0750;
constexpr mode_t file_mode = 0640;
constexpr std::size_t max_file_name = 200;  // well under NAME_MAX (255) with ".json.tmp"

// The id as a file name: only [A-Za-z0-9._-], never starting with '.', never empty. Our
// own ids already are; this guards against a bad id escaping the folder.
std::string file_name_for(std::string_view id) {
  std::string name;
  for (const char c : id.substr(0, max_file_name)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    name += ok ? c : '_';
  }
  if (name.empty()) {
    name = "session";
  }
  if (name.front() == '.') {
    name.front() = '_';
  }
  return name;
}

// mkdir -p with `mode`. Returns 0 or errno.
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

// Writes all of `data`; returns 0 or errno. A regular file that accepts nothing is full.
int write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const auto n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno;
    }
    if (n == 0) {
      return ENOSPC;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  FileDescriptor(FileDescriptor&&) = delete;
  FileDescriptor& operator=(FileDescriptor&&) = delete;

  [[nodiscard]] int get() const { return fd_; }
  // close(2) reports delayed write errors (NFS, quota): returns 0 or errno.
  int close() {
    const int fd = std::exchange(fd_, -1);
    return ::close(fd) == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

}  // namespace

bool ReportLimiter::allow(int kind, Clock::time_point now) {
  const std::lock_guard lock(mutex_);
  const auto [it, inserted] = last_.try_emplace(kind, now);
  if (inserted) {
    return true;
  }
  if (now - it->second < interval_) {
    return false;
  }
  it->second = now;
  return true;
}

AuditWriter::AuditWriter(config::AuditConfig cfg) : AuditWriter(std::move(cfg), default_line_cap) {}

AuditWriter::AuditWriter(config::AuditConfig cfg, std::size_t line_cap) : cfg_(std::move(cfg)) {
  if (cfg_.directory.empty()) {
    cfg_.directory = ".";
  }
  while (cfg_.directory.size() > 1 && cfg_.directory.back() == '/') {
    cfg_.directory.pop_back();
  }
  options_.record_envelope = cfg_.record_envelope;
  options_.transcript = cfg_.transcript;
  options_.line_cap = line_cap;
}

bool AuditWriter::write(const SessionFacts& facts, const std::vector<FindingView>& findings,
                        const std::string& verdict) noexcept {
  bool ok = false;
  try {
    const auto folder = cfg_.directory + "/" + utc_date(facts.started_unix_ms);
    std::string what;
    if (const int error = write_document(folder, file_name_for(facts.id),
                                         to_json(facts, findings, verdict, options_), what);
        error != 0) {
      ++lost_;
      report(error, what);
    } else {
      ++written_;
      ok = true;
    }
    // The summary line is attempted even when the document is lost: it is the index.
    if (const int error =
            append_summary(summary_json_line(facts, findings, verdict, options_) + "\n", what);
        error != 0) {
      ++lines_lost_;
      report(error, what);
    }
  } catch (const std::exception& e) {
    // Out of memory or the like: the document is lost, mail goes on.
    if (!ok) {
      ++lost_;
    }
    report(-1, std::string("building the audit document: ") + e.what());
  } catch (...) {
    if (!ok) {
      ++lost_;
    }
    report(-1, "building the audit document");
  }
  return ok;
}

int AuditWriter::write_document(const std::string& folder, const std::string& name,
                                const std::string& body, std::string& what) const {
  if (const int error = make_folders(folder); error != 0) {
    what = "creating " + folder;
    return error;
  }
  const auto final_path = folder + "/" + name + ".json";
  const auto temp_path = folder + "/." + name + ".json.tmp";
  what = "writing " + temp_path;
  FileDescriptor file(
      ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, file_mode));
  if (file.get() < 0) {
    return errno;
  }
  int error = write_all(file.get(), body);
  if (error == 0 && ::fsync(file.get()) != 0) {
    error = errno;
  }
  if (const int close_error = file.close(); error == 0) {
    error = close_error;
  }
  if (error == 0 && ::rename(temp_path.c_str(), final_path.c_str()) != 0) {
    error = errno;
    what = "renaming " + temp_path + " to " + final_path;
  }
  if (error != 0) {
    ::unlink(temp_path.c_str());
    return error;
  }
  // Make the rename durable. Some file systems refuse fsync on a folder (EINVAL); the
  // document is already complete under its name, so that is not a loss.
  const FileDescriptor dir(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() >= 0) {
    ::fsync(dir.get());
  }
  return 0;
}

int AuditWriter::append_summary(const std::string& line, std::string& what) {
  const std::lock_guard lock(jsonl_mutex_);
  const auto path = cfg_.directory + "/sessions.jsonl";
  what = "appending to " + path;
  if (const int error = make_folders(cfg_.directory); error != 0) {
    what = "creating " + cfg_.directory;
    return error;
  }
  FileDescriptor file(
      ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, file_mode));
  if (file.get() < 0) {
    return errno;
  }
  // One write() per line: with O_APPEND the line lands whole at the end of the file.
  const int error = write_all(file.get(), line);
  const int close_error = file.close();
  return error != 0 ? error : close_error;
}

void AuditWriter::report(int error, const std::string& what) noexcept {
  try {
    if (!limiter_.allow(error, ReportLimiter::Clock::now())) {
      return;
    }
    const auto reason = error > 0 ? std::generic_category().message(error) : "internal error";
    spdlog::error(
        "audit: {}: {}; {} session documents and {} sessions.jsonl lines lost so far; mail "
        "keeps flowing",
        what, reason, documents_lost(), summary_lines_lost());
  } catch (...) {
    // Logging must not stop mail either.
  }
}

}  // namespace hopscope
