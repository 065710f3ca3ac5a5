#include "proxy/audit_writer.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "audit_test_files.hpp"
#include "proxy/session_id.hpp"
#include "sample_facts.hpp"
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hopscope {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

using audit_test::config_for;
using audit_test::files_under;
using audit_test::read_file;
using audit_test::read_lines;
using audit_test::TempDir;

mode_t mode_of(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return 0;
  }
  return st.st_mode & 07777U;
}

TEST(AuditWriter, DocumentLandsInDateFolderWithNoTempFileLeft) {
  const TempDir tmp;
  const auto root = tmp.path() / "audit" / "nested";  // created on demand
  AuditWriter writer(config_for(root));
  const auto facts = test::sample_facts();
  ASSERT_TRUE(writer.write(facts, test::sample_findings(), "verdict"));
  EXPECT_EQ(writer.documents_written(), 1U);
  EXPECT_EQ(writer.documents_lost(), 0U);

  const auto document = root / "2026-11-22" / (facts.id + ".json");
  ASSERT_TRUE(fs::exists(document));
  const auto doc = json::parse(read_file(document));
  EXPECT_EQ(doc.at_pointer("/id").as_string(), facts.id);
  EXPECT_EQ(doc.at_pointer("/findings/0/id").as_string(), "CERT_SELF_SIGNED");

  for (const auto& file : files_under(tmp.path())) {
    EXPECT_EQ(file.filename().string().find(".tmp"), std::string::npos) << file;
  }
  EXPECT_EQ(files_under(tmp.path()).size(), 2U);  // the document and sessions.jsonl
  // Never more open than 0640 / 0750 (the umask may narrow them further).
  EXPECT_EQ(mode_of(document) & ~mode_t{0640}, 0U);
  EXPECT_EQ(mode_of(root / "2026-11-22") & ~mode_t{0750}, 0U);
  EXPECT_EQ(mode_of(root / "sessions.jsonl") & ~mode_t{0640}, 0U);

  const auto lines = read_lines(root / "sessions.jsonl");
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_EQ(json::parse(lines[0]).at_pointer("/id").as_string(), facts.id);
}

TEST(AuditWriter, IdThatIsNotAFileNameStaysInsideTheFolder) {
  const TempDir tmp;
  AuditWriter writer(config_for(tmp.path()));
  auto facts = test::sample_facts();
  facts.id = "../../escape";
  ASSERT_TRUE(writer.write(facts, {}, ""));
  EXPECT_TRUE(fs::exists(tmp.path() / "2026-11-22" / "_._.._escape.json"));
  EXPECT_EQ(files_under(tmp.path()).size(), 2U);
}

TEST(AuditWriter, ConfigOptionsReachTheDocument) {
  const TempDir tmp;
  auto cfg = config_for(tmp.path());
  cfg.record_envelope = false;
  cfg.transcript = false;
  AuditWriter writer(cfg);
  const auto facts = test::sample_facts();
  ASSERT_TRUE(writer.write(facts, {}, ""));
  const auto text = read_file(tmp.path() / "2026-11-22" / (facts.id + ".json"));
  const auto doc = json::parse(text);
  EXPECT_TRUE(doc.at_pointer("/transcript").is_null());
  EXPECT_FALSE(doc.at_pointer("/messages/0").as_object().contains("mail_from"));
  EXPECT_EQ(text.find("b@contoso.com"), std::string::npos);
}

TEST(AuditWriter, EightThreadsWriteOneSummaryLineEach) {
  const TempDir tmp;
  AuditWriter writer(config_for(tmp.path()));
  SessionIdGenerator ids;
  constexpr int threads = 8;
  constexpr int per_thread = 50;
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&writer, &ids] {
      for (int i = 0; i < per_thread; ++i) {
        auto facts = test::sample_facts();
        facts.id = ids.next(facts.started_unix_ms);
        writer.write(facts, test::sample_findings(), "");
      }
    });
  }
  for (auto& w : workers) {
    w.join();
  }
  EXPECT_EQ(writer.documents_written(), 400U);
  EXPECT_EQ(writer.documents_lost(), 0U);
  const auto lines = read_lines(tmp.path() / "sessions.jsonl");
  ASSERT_EQ(lines.size(), 400U);
  std::set<std::string> seen;
  for (const auto& line : lines) {
    boost::system::error_code ec;
    const auto doc = json::parse(line, ec);
    ASSERT_FALSE(ec) << line;
    seen.insert(std::string(doc.at_pointer("/id").as_string()));
  }
  EXPECT_EQ(seen.size(), 400U);
  for (const auto& id : seen) {
    EXPECT_TRUE(fs::exists(tmp.path() / "2026-11-22" / (id + ".json"))) << id;
  }
  EXPECT_EQ(files_under(tmp.path()).size(), 401U);
}

TEST(AuditWriter, UnwritableDirectoryLosesTheDocumentWithoutThrowing) {
  const TempDir tmp;
  // A folder below a regular file fails with ENOTDIR, even for root.
  const auto file = tmp.path() / "file";
  std::ofstream(file) << "not a folder";
  AuditWriter writer(config_for(file / "sub"));
  bool ok = true;
  EXPECT_NO_THROW(ok = writer.write(test::sample_facts(), test::sample_findings(), ""));
  EXPECT_FALSE(ok);
  EXPECT_EQ(writer.documents_lost(), 1U);
  EXPECT_EQ(writer.documents_written(), 0U);
  EXPECT_EQ(writer.summary_lines_lost(), 1U);
  EXPECT_FALSE(writer.write(test::sample_facts(), {}, ""));
  EXPECT_EQ(writer.documents_lost(), 2U);
  EXPECT_EQ(files_under(tmp.path()).size(), 1U);  // only the blocking file
}

TEST(AuditWriter, ReadOnlyDirectoryLosesTheDocumentWithoutThrowing) {
  const TempDir tmp;
  auto root = tmp.path() / "ro";
  fs::create_directory(root);
  fs::permissions(root, fs::perms::owner_read | fs::perms::owner_exec);
  if (::access(root.c_str(), W_OK) == 0) {
    // Running as root: chmod 0500 does not stop writes; a folder under a file does.
    std::ofstream(tmp.path() / "file") << "not a folder";
    root = tmp.path() / "file" / "sub";
  }
  SCOPED_TRACE("audit directory " + root.string());
  AuditWriter writer(config_for(root));
  bool ok = true;
  EXPECT_NO_THROW(ok = writer.write(test::sample_facts(), test::sample_findings(), ""));
  EXPECT_FALSE(ok);
  EXPECT_EQ(writer.documents_lost(), 1U);
  EXPECT_EQ(writer.documents_written(), 0U);
}

// Captures what the writer logs while it lives. It logs through spdlog's default logger,
// which the relay points at stderr and which in a test binary is spdlog's own, on stdout:
// both descriptors are captured.
class LogCapture {
 public:
  explicit LogCapture(const fs::path& file)
      : file_(file),
        fd_(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600)),
        saved_out_(::dup(1)),
        saved_(::dup(2)) {
    std::fflush(stdout);
    std::fflush(stderr);
    ::dup2(fd_, 1);
    ::dup2(fd_, 2);
  }
  ~LogCapture() { restore(); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  std::string text() {
    restore();
    return read_file(file_);
  }

 private:
  void restore() {
    if (saved_ >= 0) {
      std::fflush(stdout);
      std::fflush(stderr);
      ::dup2(saved_out_, 1);
      ::dup2(saved_, 2);
      ::close(saved_out_);
      ::close(saved_);
      ::close(fd_);
      saved_ = -1;
    }
  }
  fs::path file_;
  int fd_;
  int saved_out_;
  int saved_;
};

// After documents were lost, the first batch that goes through says so on stderr: the
// once-a-minute error lines are otherwise the last word an operator sees.
TEST(AuditWriter, SaysWhenDocumentsAreWrittenAgain) {
  const TempDir tmp;
  const auto blocker = tmp.path() / "audit";
  std::ofstream(blocker) << "a file where the audit folder should be";
  LogCapture capture(tmp.path() / "log.txt");
  AuditWriter writer(config_for(blocker));
  EXPECT_FALSE(writer.write(test::sample_facts(), {}, ""));
  fs::remove(blocker);
  EXPECT_TRUE(writer.write(test::sample_facts(), {}, ""));
  EXPECT_TRUE(writer.write(test::sample_facts(), {}, ""));
  const auto text = capture.text();
  const auto lost = text.find("Not a directory");
  const auto again = text.find("documents are written again in " + blocker.string() +
                               "; 1 session documents and 1 sessions.jsonl lines were lost before");
  ASSERT_NE(lost, std::string::npos) << text;
  ASSERT_NE(again, std::string::npos) << text;
  EXPECT_LT(lost, again) << text;
  const std::string_view phrase = "are written again";
  EXPECT_EQ(text.find(phrase, text.find(phrase) + phrase.size()), std::string::npos)
      << "said once: " << text;
}

// A loss after "written again" is said at once, even of a kind said less than a minute
// ago: otherwise the last line on stderr would claim the audit log works while it loses.
TEST(AuditWriter, SaysALossThatFollowsWrittenAgainAtOnce) {
  const TempDir tmp;
  const auto blocker = tmp.path() / "audit";
  std::ofstream(blocker) << "a file where the audit folder should be";
  LogCapture capture(tmp.path() / "log.txt");
  AuditWriter writer(config_for(blocker));
  EXPECT_FALSE(writer.write(test::sample_facts(), {}, ""));
  EXPECT_FALSE(writer.write(test::sample_facts(), {}, ""));  // within the minute: quiet
  fs::remove(blocker);
  EXPECT_TRUE(writer.write(test::sample_facts(), {}, ""));
  fs::remove_all(blocker);
  std::ofstream(blocker) << "in the way again";
  EXPECT_FALSE(writer.write(test::sample_facts(), {}, ""));
  const auto text = capture.text();
  const auto again = text.find("are written again");
  ASSERT_NE(again, std::string::npos) << text;
  const auto lost_after = text.find("Not a directory", again);
  ASSERT_NE(lost_after, std::string::npos) << "the new loss is said: " << text;
  EXPECT_NE(text.find("3 session documents", lost_after), std::string::npos) << text;
  EXPECT_EQ(text.find("Not a directory", text.find("Not a directory") + 1), lost_after)
      << "the second loss before recovery stays quiet: " << text;
}

// A write to sessions.jsonl cut short (here by RLIMIT_FSIZE, as a full disk would) must not
// leave half a line for the next batch to be glued onto: every line stays one JSON value.
TEST(AuditWriter, SummaryWriteCutShortLeavesNoTornLine) {
  const TempDir tmp;
  AuditWriter writer(config_for(tmp.path()));
  ASSERT_TRUE(writer.write(test::sample_facts(), {}, ""));
  const auto index = tmp.path() / "sessions.jsonl";
  const auto one_line = fs::file_size(index);
  ASSERT_GT(one_line, 10U);
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto previous = std::signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of the signal
  rlimit cut = saved;
  cut.rlim_cur = static_cast<rlim_t>(one_line + one_line / 2);  // half of the next line fits
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &cut), 0);
  (void)writer.write(test::sample_facts(), {}, "");
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);
  std::signal(SIGXFSZ, previous);
  EXPECT_EQ(writer.summary_lines_lost(), 1U);
  EXPECT_EQ(fs::file_size(index), one_line) << "the torn half line is cut back";
  ASSERT_TRUE(writer.write(test::sample_facts(), {}, ""));
  const auto lines = read_lines(index);
  ASSERT_EQ(lines.size(), 2U);
  for (const auto& line : lines) {
    boost::system::error_code ec;
    (void)boost::json::parse(line, ec);
    EXPECT_FALSE(ec) << line;
  }
}

TEST(AuditWriter, ExistingReadOnlyDateFolderLeavesNoTempFile) {
  const TempDir tmp;
  const auto folder = tmp.path() / "2026-11-22";
  fs::create_directory(folder);
  // A folder whose name is taken by a file: rename of the temp file cannot succeed.
  const auto facts = test::sample_facts();
  fs::create_directory(folder / (facts.id + ".json"));
  std::ofstream(folder / (facts.id + ".json") / "keep") << "x";
  AuditWriter writer(config_for(tmp.path()));
  EXPECT_FALSE(writer.write(facts, {}, ""));
  EXPECT_EQ(writer.documents_lost(), 1U);
  EXPECT_FALSE(fs::exists(folder / ("." + facts.id + ".json.tmp")));
  EXPECT_EQ(read_lines(tmp.path() / "sessions.jsonl").size(), 1U);  // the index still grows
}

}  // namespace
}  // namespace hopscope

namespace hopscope {
namespace {

TEST(ReportLimiter, SaysEachKindOfErrorOncePerInterval) {
  ReportLimiter limiter(std::chrono::minutes(1));
  const ReportLimiter::Clock::time_point t0{};
  EXPECT_TRUE(limiter.allow(ENOSPC, t0));
  EXPECT_FALSE(limiter.allow(ENOSPC, t0 + std::chrono::seconds(1)));
  EXPECT_TRUE(limiter.allow(EACCES, t0 + std::chrono::seconds(1)));  // another kind
  EXPECT_FALSE(limiter.allow(ENOSPC, t0 + std::chrono::seconds(59)));
  EXPECT_TRUE(limiter.allow(ENOSPC, t0 + std::chrono::seconds(60)));
  EXPECT_FALSE(limiter.allow(ENOSPC, t0 + std::chrono::seconds(119)));
  EXPECT_TRUE(limiter.allow(ENOSPC, t0 + std::chrono::seconds(120)));
  limiter.forget();
  EXPECT_TRUE(limiter.allow(ENOSPC, t0 + std::chrono::seconds(121)));
  EXPECT_FALSE(limiter.allow(ENOSPC, t0 + std::chrono::seconds(122)));
}

}  // namespace
}  // namespace hopscope
