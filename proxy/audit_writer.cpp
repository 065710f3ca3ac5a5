#include "proxy/audit_writer.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <exception>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

namespace hopscope {
namespace {

constexpr mode_t folder_mode = 0750;
constexpr mode_t file_mode = 0640;
constexpr std::size_t max_file_name = 200;  // well under NAME_MAX (255) with ".json.tmp"
constexpr std::size_t npos = std::string::npos;

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

// mkdir -p with `mode`. Returns 0 or errno. The date folder exists but for the first batch of
// a day: one mkdir(2) says so, where walking down from the root costs one per component.
int make_folders(const std::string& path) {
  if (::mkdir(path.c_str(), folder_mode) == 0 || errno == EEXIST) {
    return 0;
  }
  if (errno != ENOENT) {
    return errno;
  }
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

// Writes all of `data`; returns 0 or errno, and in `done` how many bytes went out. A regular
// file that accepts nothing is full.
int write_all(int fd, std::string_view data, std::size_t& done) {
  done = 0;
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
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

// A write that failed part way (a full disk, a file size limit) may have left half a line
// at the end of sessions.jsonl; the next batch would be appended onto it, and the index
// would hold a line that is no JSON. Cut the file back to its last whole line. `written` is
// what that write put at the end of the file.
void cut_torn_line(int fd, std::string_view written) {
  const auto last_newline = written.rfind('\n');
  const std::size_t torn =
      last_newline == std::string_view::npos ? written.size() : written.size() - last_newline - 1;
  struct stat st {};
  if (torn > 0 && ::fstat(fd, &st) == 0 && st.st_size >= static_cast<off_t>(torn)) {
    // Best effort: if even this fails, the torn line stays and the loss is reported anyway.
    (void)!::ftruncate(fd, st.st_size - static_cast<off_t>(torn));
  }
}

// fsync(2) on a folder. Some file systems refuse it (EINVAL): the entries are then as
// durable as that file system makes them, which is not a loss we can do anything about.
int sync_folder(int fd) {
  if (::fsync(fd) == 0 || errno == EINVAL || errno == ENOTSUP) {
    return 0;
  }
  return errno;
}

int sync_folder(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return errno;
  }
  const int error = sync_folder(fd);
  ::close(fd);
  return error;
}

std::string parent_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) {
    return ".";
  }
  return slash == 0 ? "/" : path.substr(0, slash);
}

// syncfs(2) reports write-back errors since Linux 5.8 (commit 735e4ae5ba28, "vfs: track
// per-sb writeback errors and report them to syncfs"); before, it returns 0 regardless.
bool kernel_syncfs_reports_errors() {
  struct utsname names {};
  if (::uname(&names) != 0) {
    return false;
  }
  const std::string_view release(names.release);
  int major = 0;
  int minor = 0;
  const auto* const end = release.data() + release.size();
  const auto [p, ec] = std::from_chars(release.data(), end, major);
  if (ec != std::errc{} || p == end || *p != '.') {
    return false;
  }
  if (std::from_chars(p + 1, end, minor).ec != std::errc{}) {
    return false;
  }
  return major > 5 || (major == 5 && minor >= 8);
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
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) {
        ::close(fd_);
      }
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }

  [[nodiscard]] int get() const { return fd_; }
  // close(2) reports delayed write errors (NFS, quota): returns 0 or errno.
  int close() {
    const int fd = std::exchange(fd_, -1);
    return ::close(fd) == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

// A date folder used by one barrier. Its descriptor is opened before any temp file in it is
// written, so syncfs() through it sees every write-back error of those files (the
// per-file-system error sequence is sampled at open).
struct Folder {
  std::string path;
  FileDescriptor dir{-1};
  dev_t device = 0;
  int error = 0;             // creating or opening it failed: documents for it are lost
  bool sync_failed = false;  // syncfs() on its file system failed: fdatasync each file
  bool renamed_into = false;
};

// A temp file written and still open, waiting for the barrier.
struct Pending {
  std::size_t folder = 0;
  std::string temp_name;   // ".<id>.json.tmp"
  std::string final_name;  // "<id>.json"
  FileDescriptor file{-1};
  bool anonymous = false;  // an O_TMPFILE file: no name until it is linked as final_name
  std::size_t item = 0;    // its index in the batch
  bool deferred = false;   // a shortage kept it from being made durable: offered again
  int error = 0;
  const char* step = "";  // what failed, for the report
};

// Names an O_TMPFILE file `name` in `dir`. linkat(2) fails with EEXIST on an existing name;
// a document written again under the same id replaces the old one atomically, through a
// temp name and rename(2), as the named-temp-file path does. Returns 0 or errno.
int link_anonymous(const Pending& doc, int dir) {
  const auto proc_path = "/proc/self/fd/" + std::to_string(doc.file.get());
  if (::linkat(AT_FDCWD, proc_path.c_str(), dir, doc.final_name.c_str(), AT_SYMLINK_FOLLOW) == 0) {
    return 0;
  }
  if (errno != EEXIST) {
    return errno;
  }
  ::unlinkat(dir, doc.temp_name.c_str(), 0);  // a stale temp file of a crashed run
  if (::linkat(AT_FDCWD, proc_path.c_str(), dir, doc.temp_name.c_str(), AT_SYMLINK_FOLLOW) != 0) {
    return errno;
  }
  if (::renameat(dir, doc.temp_name.c_str(), dir, doc.final_name.c_str()) != 0) {
    const int error = errno;
    ::unlinkat(dir, doc.temp_name.c_str(), 0);
    return error;
  }
  return 0;
}

// O_TMPFILE (Linux 3.11; ext4, xfs, btrfs, tmpfs) makes a document with one directory
// operation (the link) instead of two (create, rename), and a crash leaves no temp file.
// Naming it needs /proc (linkat through /proc/self/fd; AT_EMPTY_PATH would need
// CAP_DAC_READ_SEARCH).
bool anonymous_files_usable() {
  return ::access("/proc/self/fd", X_OK) == 0;
}

// Appends `out` to the file at `path` (created 0640) in one write(2); returns 0 or errno, and
// in `done` how many bytes went out (0 when it could not be opened).
int append_lines(const std::string& path, std::string_view out, std::size_t& done) {
  done = 0;
  FileDescriptor file(
      ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, file_mode));
  if (file.get() < 0) {
    return errno;
  }
  // One write() for the batch: with O_APPEND the lines land whole at the end of the file,
  // never interleaved with another writer's.
  int error = write_all(file.get(), out, done);
  if (error != 0) {
    cut_torn_line(file.get(), out.substr(0, done));
  }
  if (const int close_error = file.close(); error == 0) {
    error = close_error;
  }
  return error;
}

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

void ReportLimiter::forget() {
  const std::lock_guard lock(mutex_);
  last_.clear();
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
  syncfs_reports_errors_ = kernel_syncfs_reports_errors();
  anonymous_files_ = anonymous_files_usable();
  const std::lock_guard lock(reserve_mutex_);
  take_reserve();
}

AuditWriter::~AuditWriter() {
  flush_summary_lines();
  const std::lock_guard lock(reserve_mutex_);
  release_reserve();
}

bool is_transient_shortage(int error) {
  return error == EMFILE || error == ENFILE || error == ENOMEM;
}

void AuditWriter::take_reserve() noexcept {
  bool complete = true;
  for (int& fd : reserve_) {
    if (fd < 0) {
      fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      complete = complete && fd >= 0;
    }
  }
  if (complete) {
    reserve_warned_ = false;
    return;
  }
  // Once while it stays short, and at most once a minute however often it comes and goes.
  if (!std::exchange(reserve_warned_, true) &&
      reserve_reports_.allow(0, ReportLimiter::Clock::now())) {
    try {
      spdlog::warn(
          "audit: cannot hold {} file descriptors in reserve ({}); at the descriptor limit, "
          "audit documents may wait longer; tried again after each batch",
          reserve_descriptors, std::generic_category().message(errno));
    } catch (...) {
      // Logging must not stop mail.
    }
  }
}

void AuditWriter::release_reserve() noexcept {
  for (int& fd : reserve_) {
    if (fd >= 0) {
      ::close(std::exchange(fd, -1));
    }
  }
}

std::size_t AuditWriter::reserve_held() noexcept {
  const std::lock_guard lock(reserve_mutex_);
  return static_cast<std::size_t>(
      std::count_if(reserve_.begin(), reserve_.end(), [](int fd) { return fd >= 0; }));
}

bool AuditWriter::write(const SessionFacts& facts, const std::vector<FindingView>& findings,
                        const std::string& verdict) noexcept {
  const AuditItem item{&facts, &findings, &verdict};
  return write_batch(std::span(&item, 1)) == 1;
}

std::size_t AuditWriter::write_batch(std::span<const AuditItem> items) noexcept {
  int shortage = 0;
  return write_items(items, {}, shortage);
}

int AuditWriter::write_batch(std::span<const AuditItem> items,
                             std::span<AuditOutcome> outcomes) noexcept {
  int shortage = 0;
  if (outcomes.size() != items.size()) {
    // A caller's mistake: nothing can be deferred, nothing is left unwritten for that.
    write_items(items, {}, shortage);
    return 0;
  }
  std::fill(outcomes.begin(), outcomes.end(), AuditOutcome::lost);
  write_items(items, outcomes, shortage);
  return shortage;
}

std::size_t AuditWriter::write_items(std::span<const AuditItem> items,
                                     std::span<AuditOutcome> outcomes, int& shortage) noexcept {
  const auto losses_before = lost_.load() + lines_lost_.load();
  std::size_t written = 0;
  std::string lines;
  std::size_t line_count = 0;
  std::size_t next = 0;
  // Held from the moment the reserve is released until it is taken back, so two workers
  // never both count on it.
  std::unique_lock<std::mutex> reserve_lock(reserve_mutex_);
  if (std::any_of(reserve_.begin(), reserve_.end(), [](int fd) { return fd < 0; })) {
    take_reserve();  // a shortage kept it from being taken back; perhaps it is over
  }
  reserve_lock.unlock();
  while (next < items.size()) {
    int chunk_shortage = 0;
    written += write_chunk(items, outcomes, next, lines, line_count, chunk_shortage);
    if (chunk_shortage == 0) {
      continue;
    }
    if (!reserve_lock.owns_lock() && chunk_shortage != ENOMEM) {
      // Out of descriptors: the reserve's numbers are the next ones open(2) hands out, so
      // this thread gets them before an I/O thread can (short of a race in between).
      reserve_lock.lock();
      release_reserve();
      if (next < items.size()) {
        continue;
      }
    }
    // Even the reserve did not do: the rest waits for descriptors to come back (or is lost
    // when the caller cannot offer it again).
    shortage = chunk_shortage;
    for (; next < items.size(); ++next) {
      if (!outcomes.empty()) {
        outcomes[next] = AuditOutcome::deferred;
      } else {
        ++lines_lost_;  // its line was never made: the index cannot list it
        lose(chunk_shortage, "opening a document in", cfg_.directory);
      }
    }
  }
  // The summary lines go out even for lost documents: sessions.jsonl is the index. Still
  // within the reserve's descriptors, if it was released.
  append_summary(lines, line_count, reserve_lock.owns_lock());
  if (reserve_lock.owns_lock()) {
    take_reserve();
    reserve_lock.unlock();
  }
  if (written > 0 && lost_.load() + lines_lost_.load() == losses_before &&
      failing_.exchange(false)) {
    try {
      spdlog::warn(
          "audit: documents are written again in {}; {} session documents and {} sessions.jsonl "
          "lines were lost before",
          cfg_.directory, documents_lost(), summary_lines_lost());
    } catch (...) {
      // Logging must not stop mail.
    }
  }
  return written;
}

std::size_t AuditWriter::write_chunk(std::span<const AuditItem> items,
                                     std::span<AuditOutcome> outcomes, std::size_t& next,
                                     std::string& lines, std::size_t& line_count,
                                     int& shortage) noexcept {
  std::vector<Folder> folders;
  std::vector<Pending> pending;
  // Summary lines in item order; `pending` names the document a line waits for (npos: its
  // fate is known already).
  struct Line {
    std::string text;
    std::size_t pending = npos;
  };
  std::vector<Line> chunk_lines;
  try {
    pending.reserve(std::min(items.size() - next, max_open_per_barrier));
    chunk_lines.reserve(std::min(items.size() - next, max_open_per_barrier));
  } catch (...) {
    lose(-1, "preparing the audit batch", "");
    ++next;
    return 0;
  }

  // 1. Every temp file written, none synced yet. Anything that allocates happens before
  //    the temp file is created, so an exception leaves nothing on disk.
  for (; next < items.size() && pending.size() < max_open_per_barrier; ++next) {
    const AuditItem& item = items[next];
    if (item.facts == nullptr) {
      lose(-1, "audit item without session facts", "");
      continue;
    }
    try {
      static const std::vector<FindingView> no_findings;
      static const std::string no_verdict;
      const auto& facts = *item.facts;
      const auto& findings = item.findings != nullptr ? *item.findings : no_findings;
      const auto& verdict = item.verdict != nullptr ? *item.verdict : no_verdict;
      const auto body = to_json(facts, findings, verdict, options_);
      auto line = summary_json_line(facts, findings, verdict, options_);
      line += '\n';

      auto folder_path = cfg_.directory + "/" + utc_date(facts.started_unix_ms);
      std::size_t f = 0;
      while (f < folders.size() && folders[f].path != folder_path) {
        ++f;
      }
      if (f == folders.size()) {
        Folder folder;
        folder.path = std::move(folder_path);
        folder.error = make_folders(folder.path);
        if (folder.error == 0) {
          folder.dir =
              FileDescriptor(::open(folder.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
          struct stat st {};
          if (folder.dir.get() < 0 || ::fstat(folder.dir.get(), &st) != 0) {
            folder.error = errno;
          }
          folder.device = st.st_dev;
        }
        if (is_transient_shortage(folder.error)) {
          // Committing what waits frees its descriptors for this one; with nothing waiting,
          // the caller decides (the reserve, or later).
          shortage = pending.empty() ? folder.error : 0;
          break;
        }
        folders.push_back(std::move(folder));
      }

      const auto name = file_name_for(facts.id);
      auto final_name = name + ".json";
      // The same id twice in one barrier would share a temp file: commit what came
      // before, then write the second one behind the next barrier (later wins, as with
      // two write() calls).
      const auto same = [&](const Pending& p) {
        return p.folder == f && p.final_name == final_name;
      };
      if (std::any_of(pending.begin(), pending.end(), same)) {
        break;
      }

      Folder& folder = folders[f];
      if (folder.error != 0) {
        chunk_lines.push_back(Line{std::move(line)});
        lose(folder.error, "creating", folder.path);
        continue;
      }
      Pending doc;
      doc.folder = f;
      doc.item = next;
      doc.temp_name = "." + name + ".json.tmp";
      doc.final_name = std::move(final_name);
      int open_error = 0;
      if (anonymous_files_.load(std::memory_order_relaxed)) {
        doc.file = FileDescriptor(
            ::openat(folder.dir.get(), ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, file_mode));
        doc.anonymous = doc.file.get() >= 0;
        open_error = doc.anonymous ? 0 : errno;
        if (!doc.anonymous &&
            (open_error == EOPNOTSUPP || open_error == EISDIR || open_error == EINVAL)) {
          anonymous_files_.store(false);  // this file system has no O_TMPFILE
          open_error = 0;
        }
      }
      if (!doc.anonymous && open_error == 0) {
        doc.file = FileDescriptor(::openat(folder.dir.get(), doc.temp_name.c_str(),
                                           O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                                           file_mode));
        open_error = doc.file.get() < 0 ? errno : 0;
      }
      if (is_transient_shortage(open_error)) {
        shortage = pending.empty() ? open_error : 0;
        break;
      }
      chunk_lines.push_back(Line{std::move(line)});
      if (open_error != 0) {
        if (anonymous_files_.load(std::memory_order_relaxed)) {
          lose(open_error, "writing a document in", folder.path);
        } else {
          lose(open_error, "writing", folder.path + "/" + doc.temp_name);
        }
        continue;
      }
      std::size_t done = 0;
      if (const int error = write_all(doc.file.get(), body, done); error != 0) {
        doc.file = FileDescriptor(-1);
        if (!doc.anonymous) {
          ::unlinkat(folder.dir.get(), doc.temp_name.c_str(), 0);
        }
        lose(error, "writing", folder.path + "/" + doc.temp_name);
        continue;
      }
      chunk_lines.back().pending = pending.size();
      pending.push_back(std::move(doc));  // capacity reserved: does not throw
    } catch (const std::exception& e) {
      // Out of memory or the like: the document is lost, mail goes on.
      lose(-1, "building the audit document:", e.what());
    } catch (...) {
      lose(-1, "building the audit document", "");
    }
  }

  // 2. One barrier: syncfs() once per file system, through the first folder opened on it.
  //    One document alone is cheaper with its own fdatasync(). A failed syncfs() may be
  //    someone else's file: fdatasync() on our still-open descriptors tells whose.
  const bool use_syncfs = syncfs_reports_errors_ && pending.size() >= 2;
  if (use_syncfs) {
    for (std::size_t i = 0; i < folders.size(); ++i) {
      const auto on_device = [&](const Pending& p) {
        return folders[p.folder].device == folders[i].device && folders[p.folder].error == 0;
      };
      bool first_on_device = folders[i].error == 0;
      for (std::size_t j = 0; j < i && first_on_device; ++j) {
        first_on_device = folders[j].error != 0 || folders[j].device != folders[i].device;
      }
      if (!first_on_device || std::none_of(pending.begin(), pending.end(), on_device)) {
        continue;
      }
      if (::syncfs(folders[i].dir.get()) != 0) {
        for (auto& folder : folders) {
          folder.sync_failed = folder.sync_failed || folder.device == folders[i].device;
        }
      }
    }
  }
  for (auto& doc : pending) {
    if ((!use_syncfs || folders[doc.folder].sync_failed) && ::fdatasync(doc.file.get()) != 0) {
      doc.error = errno;
      doc.step = "syncing";
    }
    // An anonymous file stays open: it is named through its descriptor.
    if (doc.anonymous) {
      continue;
    }
    if (const int error = doc.file.close(); doc.error == 0 && error != 0) {
      doc.error = error;
      doc.step = "closing";
    }
  }

  // 3. Only durable files get their final names: a crash before this point leaves at most
  //    a `.tmp` file (none for an anonymous one), never a partial document.
  for (auto& doc : pending) {
    const int dir = folders[doc.folder].dir.get();
    if (doc.anonymous) {
      if (doc.error == 0) {
        doc.error = link_anonymous(doc, dir);
        doc.step = "naming";
      }
      if (const int error = doc.file.close(); doc.error == 0 && error != 0) {
        doc.error = error;
        doc.step = "closing";
        ::unlinkat(dir, doc.final_name.c_str(), 0);
      }
    } else {
      if (doc.error == 0 &&
          ::renameat(dir, doc.temp_name.c_str(), dir, doc.final_name.c_str()) != 0) {
        doc.error = errno;
        doc.step = "renaming";
      }
      if (doc.error != 0) {
        ::unlinkat(dir, doc.temp_name.c_str(), 0);
      }
    }
    if (doc.error == 0) {
      folders[doc.folder].renamed_into = true;
    }
  }

  // 4. Each touched folder fsynced once, so the renames survive a crash.
  for (auto& folder : folders) {
    if (!folder.renamed_into) {
      continue;
    }
    folder.error = sync_folder(folder.dir.get());
    if (folder.error == 0) {
      folder.error = make_folder_entry_durable(folder.path);
    }
  }

  std::size_t written = 0;
  for (auto& doc : pending) {
    const Folder& folder = folders[doc.folder];
    if (doc.error != 0) {
      try {
        lose(doc.error, doc.step,
             folder.path + "/" + (doc.anonymous ? doc.final_name : doc.temp_name));
      } catch (...) {
        lose(doc.error, doc.step, doc.temp_name);
      }
    } else if (is_transient_shortage(folder.error) && !outcomes.empty()) {
      // Under its final name, but its folder's entry is not durable yet: written again
      // (same content, replaced atomically) once descriptors come back.
      doc.deferred = true;
      outcomes[doc.item] = AuditOutcome::deferred;
      shortage = folder.error;
    } else if (folder.error != 0) {
      lose(folder.error, "syncing the folder", folder.path);
    } else {
      ++written;
      if (!outcomes.empty()) {
        outcomes[doc.item] = AuditOutcome::written;
      }
    }
  }
  for (auto& line : chunk_lines) {
    if (line.pending == npos || !pending[line.pending].deferred) {
      try {
        lines += line.text;
        ++line_count;
      } catch (...) {
        ++lines_lost_;
      }
    }
  }
  written_ += written;
  return written;
}

int AuditWriter::make_folder_entry_durable(const std::string& folder) noexcept {
  try {
    {
      const std::lock_guard lock(folders_mutex_);
      if (durable_folders_.count(folder) != 0) {
        return 0;
      }
    }
    // The date folder's entry lives in the audit directory, whose own entry (created on
    // demand) lives in its parent.
    const auto audit_dir = parent_of(folder);
    int error = sync_folder(audit_dir);
    if (error == 0) {
      error = sync_folder(parent_of(audit_dir));
    }
    if (error == 0) {
      const std::lock_guard lock(folders_mutex_);
      durable_folders_.insert(folder);
    }
    return error;
  } catch (...) {
    return ENOMEM;
  }
}

void AuditWriter::append_summary(const std::string& lines, std::size_t count,
                                 bool reserve_locked) noexcept {
  std::size_t done = 0;
  int error = 0;
  std::string path;
  std::size_t lost_now = 0;
  {
    const std::lock_guard lock(jsonl_mutex_);
    if (count == 0 && unsent_count_ == 0) {
      return;
    }
    // Lines a shortage held back go first, so the index keeps the order of the sessions.
    std::string held;
    try {
      held = std::move(unsent_lines_);
      unsent_lines_.clear();
      held += lines;
    } catch (...) {
      // No memory to join them: the held-back lines are lost, these go out.
      lines_lost_ += unsent_count_;
      held.clear();
      unsent_count_ = 0;
    }
    const std::string& out = held.empty() ? lines : held;
    const std::size_t total = count + std::exchange(unsent_count_, 0);
    try {
      path = cfg_.directory + "/sessions.jsonl";
      error = make_folders(cfg_.directory);
      if (error != 0) {
        path = cfg_.directory;  // named in the report
      } else {
        error = append_lines(path, out, done);
        if (is_transient_shortage(error) && done == 0) {
          // The reserve's numbers are the next ones open(2) hands out. Not waited for: a
          // worker that holds it is writing documents, and appends these after them.
          std::unique_lock<std::mutex> own(reserve_mutex_, std::defer_lock);
          if (reserve_locked || own.try_lock()) {
            release_reserve();
            error = append_lines(path, out, done);
            if (own.owns_lock()) {
              take_reserve();
            }
          }
        }
      }
    } catch (...) {
      error = error != 0 ? error : ENOMEM;
    }
    if (error == 0) {
      unsent_error_ = 0;
      return;
    }
    // Lines that went out whole before the failure are kept; the rest wait for descriptors
    // (the oldest, within a bound) or are lost.
    const auto whole_end = std::string_view(out).substr(0, done).rfind('\n');
    const std::size_t sent_bytes = whole_end == std::string_view::npos ? 0 : whole_end + 1;
    const auto kept = static_cast<std::size_t>(
        std::count(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(sent_bytes), '\n'));
    lost_now = total - kept;
    if (is_transient_shortage(error)) {
      unsent_error_ = error;
      try {
        const std::string_view rest = std::string_view(out).substr(sent_bytes);
        lost_now = hold_lines(rest, total - kept);
      } catch (...) {
        unsent_lines_.clear();
        unsent_count_ = 0;
      }
      if (lost_now == 0) {
        return;  // the caller says that lines wait (summary_lines_held)
      }
    }
  }
  lines_lost_ += lost_now;
  start_failing();
  try {
    report(error, "appending to " + path);
  } catch (...) {
    // Logging must not stop mail.
  }
}

std::size_t AuditWriter::hold_lines(std::string_view text, std::size_t count) {
  // The oldest lines are kept: they are the sessions the index misses longest.
  const std::size_t room =
      unsent_cap_ > unsent_lines_.size() ? unsent_cap_ - unsent_lines_.size() : 0;
  if (text.size() > room) {
    const auto cut = text.substr(0, room).rfind('\n');
    text = text.substr(0, cut == std::string_view::npos ? 0 : cut + 1);
  }
  const auto fits = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  unsent_lines_ += text;
  unsent_count_ += fits;
  return count - fits;
}

std::size_t AuditWriter::summary_lines_held() noexcept {
  const std::lock_guard lock(jsonl_mutex_);
  return unsent_count_;
}

std::size_t AuditWriter::retry_summary_lines() noexcept {
  const std::lock_guard reserve_lock(reserve_mutex_);
  if (summary_lines_held() == 0) {
    return 0;
  }
  release_reserve();
  append_summary({}, 0, true);
  take_reserve();
  return summary_lines_held();
}

void AuditWriter::hold_summary_lines(std::span<const AuditItem> items) noexcept {
  std::size_t lost_now = 0;
  std::string text;
  std::size_t count = 0;
  for (const auto& item : items) {
    if (item.facts == nullptr) {
      ++lost_now;
      continue;
    }
    try {
      static const std::vector<FindingView> no_findings;
      static const std::string no_verdict;
      text +=
          summary_json_line(*item.facts, item.findings != nullptr ? *item.findings : no_findings,
                            item.verdict != nullptr ? *item.verdict : no_verdict, options_);
      text += '\n';
      ++count;
    } catch (...) {
      ++lost_now;
    }
  }
  {
    const std::lock_guard lock(jsonl_mutex_);
    try {
      lost_now += hold_lines(text, count);
    } catch (...) {
      lost_now += count;
    }
  }
  if (lost_now > 0) {
    lines_lost_ += lost_now;
    start_failing();
    try {
      report(ENOMEM, "keeping sessions.jsonl lines for " + cfg_.directory + "/sessions.jsonl");
    } catch (...) {
      // Logging must not stop mail.
    }
  }
}

void AuditWriter::limit_unsent_line_bytes(std::size_t bytes) noexcept {
  const std::lock_guard lock(jsonl_mutex_);
  unsent_cap_ = bytes;
}

void AuditWriter::flush_summary_lines() noexcept {
  if (retry_summary_lines() == 0) {
    return;
  }
  std::size_t still = 0;
  int error = 0;
  {
    const std::lock_guard lock(jsonl_mutex_);
    still = std::exchange(unsent_count_, 0);
    unsent_lines_.clear();
    error = unsent_error_ != 0 ? unsent_error_ : EMFILE;
  }
  if (still > 0) {
    lines_lost_ += still;
    start_failing();
    try {
      report(error, "appending " + std::to_string(still) + " held-back lines to " + cfg_.directory +
                        "/sessions.jsonl");
    } catch (...) {
      // Logging must not stop mail.
    }
  }
}

void AuditWriter::lose(int error, std::string_view step, std::string_view path) noexcept {
  ++lost_;
  start_failing();
  try {
    std::string what(step);
    if (!path.empty()) {
      what += ' ';
      what += path;
    }
    report(error, what);
  } catch (...) {
    // Logging must not stop mail.
  }
}

void AuditWriter::start_failing() noexcept {
  if (!failing_.exchange(true)) {
    try {
      limiter_.forget();  // the first loss after "written again" is said, whatever its kind
    } catch (...) {
      // A limiter that cannot be reset only stays quiet a little longer.
    }
  }
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
