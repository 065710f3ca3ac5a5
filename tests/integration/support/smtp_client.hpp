// A minimal blocking SMTP client on POSIX sockets, for what swaks cannot do: raw bytes,
// pipelining (RFC 2920) with several commands in one write, and BDAT chunks (RFC 3030).
// Test support only. Every read has a timeout (SO_RCVTIMEO); a timeout, a closed connection or
// a malformed reply throws std::runtime_error naming what was received so far.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hopscope::test {

struct SmtpReply {
  int code = 0;
  std::vector<std::string> lines;  // text after "NNN-" / "NNN ", one per line
  std::string raw;                 // the reply exactly as received, CRLFs included

  [[nodiscard]] bool positive() const { return code >= 200 && code < 400; }
  // True if an EHLO reply line (after the first) is `keyword` or starts with "keyword ".
  [[nodiscard]] bool has_keyword(std::string_view keyword) const;
};

struct MailEnvelope {
  std::string from;
  std::vector<std::string> to;
};

class SmtpClient {
 public:
  // Connects to host:port (numeric) and reads nothing yet. Throws std::runtime_error.
  SmtpClient(const std::string& host, std::uint16_t port,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~SmtpClient();

  SmtpClient(const SmtpClient&) = delete;
  SmtpClient& operator=(const SmtpClient&) = delete;
  SmtpClient(SmtpClient&&) = delete;
  SmtpClient& operator=(SmtpClient&&) = delete;

  // Writes bytes exactly as given, in one write call (loops only on short writes).
  void send(std::string_view bytes) const;
  // Reads one (possibly multi-line) reply, RFC 5321 §4.2.1.
  [[nodiscard]] SmtpReply read_reply();
  // send(line + "\r\n"), then read_reply().
  SmtpReply command(std::string_view line);
  // Reads the 220 greeting, then sends EHLO and returns its reply.
  SmtpReply greet_and_ehlo(std::string_view name = "client.example.test");

  // RFC 2920: every command (each without CRLF) in ONE write, then one reply per command.
  std::vector<SmtpReply> pipeline(const std::vector<std::string>& commands);

  // MAIL, RCPT..., DATA pipelined in one write (RFC 2920 §3.1), then the dot-stuffed message
  // and "." (RFC 5321 §4.5.2). Returns every reply: MAIL, each RCPT, DATA, end-of-data.
  std::vector<SmtpReply> send_mail_pipelined(const MailEnvelope& envelope,
                                             std::string_view message);

  // MAIL, RCPT..., then "BDAT <n>" for each chunk and "BDAT <n> LAST" for the final one
  // (RFC 3030 §2). Chunks are sent raw: no dot-stuffing. Returns every reply in order.
  std::vector<SmtpReply> send_mail_bdat(const MailEnvelope& envelope,
                                        const std::vector<std::string>& chunks);

  // Sends QUIT and reads the 221 if the peer is still there; never throws.
  void quit() noexcept;
  // True once the peer closed the connection (reads until EOF or timeout; consumes bytes).
  [[nodiscard]] bool wait_closed() const;
  [[nodiscard]] int fd() const { return fd_; }

 private:
  std::string read_line();

  int fd_ = -1;
  std::string buffer_;
};

// RFC 5321 §4.5.2: a leading "." on a line is doubled. Input must use CRLF line endings.
[[nodiscard]] std::string dot_stuff(std::string_view message);

}  // namespace hopscope::test
