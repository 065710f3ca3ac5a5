// A private Postfix for integration tests: its own config, queue and data directories and a
// maildir, all inside one temp directory; listening on 127.0.0.1:<port> only; delivering every
// recipient of the test domain to one maildir through the virtual(8) agent (so it works when
// the tests run as root); no DNS. Test support only.
// Tests that start one hold the CTest RESOURCE_LOCK "postfix" (the port is picked with
// free_loopback_port(), which can race).
// Never touches /etc/postfix or the system queue; never kills a process it did not start.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "temp_dir.hpp"
#include <sys/types.h>

namespace hopscope::test {

// smtpd_tls_security_level (postconf(5)): none, may (offer STARTTLS) or encrypt (require it).
enum class PostfixTls { none, may, encrypt };

// Values for PostfixOptions::tls_protocols (postconf(5) smtpd_tls_protocols, Postfix >= 3.6).
inline constexpr std::string_view tls_only_1_2 = ">=TLSv1.2, <=TLSv1.2";
inline constexpr std::string_view tls_only_1_3 = ">=TLSv1.3";

struct PostfixOptions {
  PostfixTls tls = PostfixTls::may;
  std::filesystem::path cert_file;  // PEM leaf or chain (smtpd_tls_cert_file); needed unless none
  std::filesystem::path key_file;   // smtpd_tls_key_file
  // Applied to smtpd_tls_protocols and smtpd_tls_mandatory_protocols; empty: Postfix default.
  std::string tls_protocols;
  // smtpd_discard_ehlo_keywords, e.g. {"starttls"} to emulate a firewall that strips it.
  std::vector<std::string> discard_ehlo_keywords;
  std::string domain = "contoso.test";         // virtual_mailbox_domains: every user accepted
  std::string hostname = "mail.contoso.test";  // myhostname, shown in the banner
  std::uint16_t port = 0;                      // 0: free_loopback_port()
  // Extra main.cf lines "name = value", appended last (they win).
  std::vector<std::string> extra_main_cf;
  std::chrono::milliseconds start_timeout = std::chrono::seconds(20);
};

// Thrown when Postfix cannot be configured or started; what() names the maillog and quotes
// its tail and the output of `postfix check`/`postfix start`.
class PostfixError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class PostfixInstance {
 public:
  // Writes the configuration, runs `postfix -c DIR check`, then `postfix -c DIR start`, and
  // waits until the port accepts connections. Throws PostfixError.
  explicit PostfixInstance(const PostfixOptions& options);
  // Stops the master (SIGTERM), waits for its process group to exit (SIGKILL after 10 s),
  // then removes the temp directory (kept when HOPSCOPE_KEEP_TEST_DIRS is set).
  ~PostfixInstance();

  PostfixInstance(const PostfixInstance&) = delete;
  PostfixInstance& operator=(const PostfixInstance&) = delete;
  PostfixInstance(PostfixInstance&&) = delete;
  PostfixInstance& operator=(PostfixInstance&&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] std::string host() const { return "127.0.0.1"; }
  [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] const std::filesystem::path& directory() const { return dir_->path(); }
  [[nodiscard]] std::filesystem::path config_directory() const { return directory() / "etc"; }
  [[nodiscard]] std::filesystem::path maillog() const { return directory() / "maillog"; }
  [[nodiscard]] std::filesystem::path maildir() const;
  [[nodiscard]] std::string maillog_tail(std::size_t lines = 40) const;

  // Polls the maildir's new/ and cur/ every 20 ms (bounded) until at least n messages are
  // there or `timeout` passes. Returns the number found.
  std::size_t wait_for_messages(std::size_t n, std::chrono::milliseconds timeout) const;
  // The delivered files' contents, oldest first (Postfix writes them with LF line endings).
  [[nodiscard]] std::vector<std::string> messages() const;

 private:
  void write_config(const PostfixOptions& options) const;
  [[noreturn]] void fail(const std::string& what) const;
  void stop() noexcept;

  std::unique_ptr<TempDir> dir_;
  std::uint16_t port_ = 0;
  std::string domain_;
  pid_t master_pid_ = -1;
};

// What Postfix delivered, minus the trace fields it prepends (Return-Path:, Delivered-To:,
// X-Original-To: and the one Received: it adds; RFC 5321 §4.4), with LF turned back into CRLF.
// Equals the message bytes the client sent (after SMTP dot-unstuffing) when no hop changed it.
[[nodiscard]] std::string strip_delivery_headers(std::string_view delivered);
// The body: everything after the first empty line (CRLF CRLF or LF LF); empty if none.
[[nodiscard]] std::string message_body(std::string_view message);

}  // namespace hopscope::test
