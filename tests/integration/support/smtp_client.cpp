#include "smtp_client.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <stdexcept>
#include <system_error>

#include "net.hpp"
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace hopscope::test {
namespace {

constexpr std::size_t max_reply_line_bytes = 4096;  // our own test bound, > RFC 5321 §4.5.3.1.5

std::string escaped(std::string_view bytes) {
  std::string text;
  for (const char c : bytes) {
    if (c == '\r') {
      text += "\\r";
    } else if (c == '\n') {
      text += "\\n";
    } else {
      text += c;
    }
  }
  return text;
}

}  // namespace

bool SmtpReply::has_keyword(std::string_view keyword) const {
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (line.size() >= keyword.size() &&
        std::equal(keyword.begin(), keyword.end(), line.begin(),
                   [](char a, char b) {
                     return std::toupper(static_cast<unsigned char>(a)) ==
                            std::toupper(static_cast<unsigned char>(b));
                   }) &&
        (line.size() == keyword.size() || line[keyword.size()] == ' ')) {
      return true;
    }
  }
  return false;
}

std::string dot_stuff(std::string_view message) {
  std::string out;
  out.reserve(message.size() + 16);
  bool line_start = true;
  for (const char c : message) {
    if (line_start && c == '.') {
      out += '.';
    }
    out += c;
    line_start = c == '\n';
  }
  return out;
}

SmtpClient::SmtpClient(const std::string& host, std::uint16_t port,
                       std::chrono::milliseconds timeout) {
  fd_ = connect_numeric(host, port);
  if (fd_ < 0) {
    throw std::runtime_error("SmtpClient: connect " + host + ":" + std::to_string(port) + ": " +
                             std::generic_category().message(errno));
  }
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

SmtpClient::~SmtpClient() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void SmtpClient::send(std::string_view bytes) const {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw std::runtime_error(std::string("SmtpClient: send: ") +
                               std::generic_category().message(errno));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string SmtpClient::read_line() {
  for (;;) {
    const auto end = buffer_.find("\r\n");
    if (end != std::string::npos) {
      std::string line = buffer_.substr(0, end + 2);
      buffer_.erase(0, end + 2);
      return line;
    }
    if (buffer_.size() > max_reply_line_bytes) {
      throw std::runtime_error("SmtpClient: reply line too long: " + escaped(buffer_));
    }
    std::array<char, 4096> chunk{};
    const ssize_t n = ::recv(fd_, chunk.data(), chunk.size(), 0);
    if (n > 0) {
      buffer_.append(chunk.data(), static_cast<std::size_t>(n));
    } else if (n == 0) {
      throw std::runtime_error("SmtpClient: connection closed; pending: " + escaped(buffer_));
    } else if (errno != EINTR) {
      throw std::runtime_error(std::string("SmtpClient: recv: ") +
                               (errno == EAGAIN || errno == EWOULDBLOCK
                                    ? "timeout"
                                    : std::generic_category().message(errno)) +
                               "; pending: " + escaped(buffer_));
    }
  }
}

SmtpReply SmtpClient::read_reply() {
  SmtpReply reply;
  for (;;) {
    const std::string line = read_line();
    reply.raw += line;
    // RFC 5321 §4.2.1: "NNN-text" continues, "NNN text" (or bare "NNN") ends the reply.
    const bool digits = line.size() >= 5 && std::isdigit(static_cast<unsigned char>(line[0])) &&
                        std::isdigit(static_cast<unsigned char>(line[1])) &&
                        std::isdigit(static_cast<unsigned char>(line[2]));
    const char separator = line.size() > 5 ? line[3] : ' ';
    if (!digits || (separator != '-' && separator != ' ')) {
      throw std::runtime_error("SmtpClient: malformed reply: " + escaped(reply.raw));
    }
    const int code = std::stoi(line.substr(0, 3));
    if (reply.code != 0 && code != reply.code) {
      throw std::runtime_error("SmtpClient: code changed inside reply: " + escaped(reply.raw));
    }
    reply.code = code;
    reply.lines.push_back(line.size() > 5 ? line.substr(4, line.size() - 6) : std::string());
    if (separator == ' ') {
      return reply;
    }
  }
}

SmtpReply SmtpClient::command(std::string_view line) {
  send(std::string(line) + "\r\n");
  return read_reply();
}

SmtpReply SmtpClient::greet_and_ehlo(std::string_view name) {
  const SmtpReply greeting = read_reply();
  if (greeting.code != 220) {
    throw std::runtime_error("SmtpClient: greeting is not 220: " + escaped(greeting.raw));
  }
  return command("EHLO " + std::string(name));
}

std::vector<SmtpReply> SmtpClient::pipeline(const std::vector<std::string>& commands) {
  std::string batch;
  for (const auto& c : commands) {
    batch += c;
    batch += "\r\n";
  }
  send(batch);
  std::vector<SmtpReply> replies;
  replies.reserve(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) {
    replies.push_back(read_reply());
  }
  return replies;
}

std::vector<SmtpReply> SmtpClient::send_mail_pipelined(const MailEnvelope& envelope,
                                                       std::string_view message) {
  std::vector<std::string> commands{"MAIL FROM:<" + envelope.from + ">"};
  for (const auto& rcpt : envelope.to) {
    commands.push_back("RCPT TO:<" + rcpt + ">");
  }
  commands.emplace_back("DATA");
  std::vector<SmtpReply> replies = pipeline(commands);
  if (replies.back().code != 354) {
    return replies;
  }
  std::string data = dot_stuff(message);
  if (data.size() < 2 || data.compare(data.size() - 2, 2, "\r\n") != 0) {
    data += "\r\n";
  }
  data += ".\r\n";
  send(data);
  replies.push_back(read_reply());
  return replies;
}

std::vector<SmtpReply> SmtpClient::send_mail_bdat(const MailEnvelope& envelope,
                                                  const std::vector<std::string>& chunks) {
  std::vector<SmtpReply> replies;
  replies.push_back(command("MAIL FROM:<" + envelope.from + ">"));
  for (const auto& rcpt : envelope.to) {
    replies.push_back(command("RCPT TO:<" + rcpt + ">"));
  }
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    const bool last = i + 1 == chunks.size();
    // RFC 3030 §2: the chunk follows the command line immediately, with no reply in between.
    send("BDAT " + std::to_string(chunks[i].size()) + (last ? " LAST" : "") + "\r\n" + chunks[i]);
    replies.push_back(read_reply());
  }
  return replies;
}

void SmtpClient::quit() noexcept {
  try {
    (void)command("QUIT");
  } catch (const std::exception&) {  // the peer may already be gone: nothing to do
  }
}

bool SmtpClient::wait_closed() const {
  std::array<char, 4096> chunk{};
  for (;;) {
    const ssize_t n = ::recv(fd_, chunk.data(), chunk.size(), 0);
    if (n == 0) {
      return true;
    }
    if (n < 0 && errno != EINTR) {
      return errno == ECONNRESET;
    }
  }
}

}  // namespace hopscope::test
