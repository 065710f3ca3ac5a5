#pragma once
// Conversation: the SMTP codec entry point for one relayed session. It observes both directions
// (sender → server, server → sender) and yields events in the order their bytes were fed:
// commands, replies matched to commands in order (RFC 2920 PIPELINING), message content as
// the recipient gets it (DATA / BDAT), the switch to TLS (RFC 3207), and anomalies.
// Sans-I/O: no sockets, clocks or logs. It copies what it needs and never changes a byte: the
// caller relays the originals. Bytes from the network never throw; everything odd becomes an
// Anomaly. Memory is bounded by Limits.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "proxy/smtp/command_parser.hpp"
#include "proxy/smtp/data_framer.hpp"
#include "proxy/smtp/fifo.hpp"
#include "proxy/smtp/line_reader.hpp"
#include "proxy/smtp/reply_parser.hpp"

namespace hopscope::smtp {

struct Limits {
  std::size_t max_line_bytes = std::size_t{64} * 1024;  // line text without CRLF, either direction
  std::size_t max_reply_lines = 1000;                   // lines kept per reply
  std::size_t max_reply_bytes = std::size_t{256} * 1024;  // bytes kept per reply
  std::size_t max_pending_bytes = std::size_t{1}
                                  << 20;  // client bytes held awaiting a DATA/STARTTLS/AUTH reply
  std::size_t max_pipelined_commands = 1000;  // commands awaiting their replies
};

enum class Direction { client_to_server, server_to_client };

[[nodiscard]] const char* to_string(Direction dir);  // "c>s" | "s>c"

// A command line from the sender (command.transcript_line(): the line, AUTH payload redacted).
struct ClientCommand {
  Command command;
  friend bool operator==(const ClientCommand&, const ClientCommand&) = default;
};

// A reply from the server; in_reply_to is nullopt for the banner and for a reply no command
// was waiting for (then an "unexpected_reply" Anomaly precedes it). A malformed reply comes as
// a "malformed_reply" Anomaly followed by a ServerReply with code 0 and the lines verbatim.
struct ServerReply {
  Reply reply;
  std::optional<Command> in_reply_to;
  // The second reply a DATA or an XEXCH50 gets: after the final dot, or after the blob
  // (in_reply_to is that DATA / XEXCH50). A DATA pipelined behind it is still unanswered.
  bool after_content = false;
  friend bool operator==(const ServerReply&, const ServerReply&) = default;
};

// The XEXCH50 blob is in: `bytes` were counted (never parsed); its second reply is due.
struct BlobEnd {
  std::uint64_t bytes = 0;
  friend bool operator==(const BlobEnd&, const BlobEnd&) = default;
};

// The server answered STARTTLS with 2xx: from here on the caller handles TLS bytes elsewhere.
// Both fields are plaintext that arrived after the command / the reply line: injection
// evidence (RFC 3207 §4.2, CVE-2011-0411 class) when not empty.
struct StartTls {
  std::string client_bytes_after_command;
  std::string server_bytes_after_reply;
  friend bool operator==(const StartTls&, const StartTls&) = default;
};

// kind: bare_lf, line_too_long, malformed_reply, reply_too_long, bdat_size_invalid,
// xexch50_size_invalid, mail_syntax, rcpt_syntax, unexpected_reply, pending_overflow,
// pipeline_overflow. detail: raw bytes (capped at 200), to be escaped by whoever writes it.
struct Anomaly {
  Direction dir = Direction::client_to_server;
  std::string kind;
  std::string detail;
  friend bool operator==(const Anomaly&, const Anomaly&) = default;
};

using Event = std::variant<ClientCommand, ServerReply, MessageContent, MessageEnd,
                           AmbiguousEndOfData, StartTls, Anomaly, BlobEnd>;

class Conversation {
 public:
  explicit Conversation(Limits limits = {});

  void feed_client(std::string_view bytes);  // sender → server bytes
  void feed_server(std::string_view bytes);  // server → sender bytes

  // Outcomes: the next event in feed order; nullopt when more bytes are needed.
  [[nodiscard]] std::optional<Event> next();
  // The same events for a consumer that only reads each one: the oldest not yet taken (null
  // when more bytes are needed), read in place, then drop_front(). The pointer is valid until
  // the next call to any member. Saves next()'s move of a Command-sized event.
  [[nodiscard]] const Event* peek() const { return out_.empty() ? nullptr : &out_.front(); }
  void drop_front() { out_.pop_front(); }

  // After StartTls: nothing more is parsed, the caller must not feed more.
  [[nodiscard]] bool in_tls() const { return tls_; }

 private:
  enum class ClientState {
    commands,
    hold_data,      // after DATA, until its reply (354 → content, else commands)
    hold_starttls,  // after STARTTLS, until its reply (2xx → TLS, else commands)
    hold_auth,      // after AUTH or a SASL response, until its reply (334 → sasl_line)
    sasl_line,      // the next line is a SASL response (RFC 4954 §4)
    content,        // DATA content or a BDAT chunk, in the framer
    hold_blob,      // after XEXCH50, until its reply (354 → blob, else commands)
    blob,           // the XEXCH50 blob: counted, never parsed, not message content
    tls
  };

  void client_input(std::string_view bytes);
  bool pump_client_line();
  void on_client_line(LineEvent event);
  void emit_command(Command&& command);
  void hold(std::string_view bytes);
  void release(ClientState next);
  void drain_framer();
  // The XEXCH50 blob is complete: its end is said and its second reply awaited.
  void finish_blob();
  // One event of the server's parser; a Reply in it is moved from.
  void on_reply_event(ReplyEvent& event);
  void on_reply(Reply&& reply);
  // Queues a ServerReply; in_reply_to (moved from) is null for none.
  void emit_reply(Reply&& reply, Command* in_reply_to, bool after_content);
  void anomaly(Direction dir, std::string kind, std::string_view detail);

  Limits limits_;
  LineReader client_reader_;
  ReplyParser server_parser_;
  DataFramer framer_;
  // A command whose reply is due. A DATA is due twice (RFC 5321 §4.1.1.4): for its 354 and,
  // after the final dot, for the message's final reply; only the first decides the framing.
  struct Awaiting {
    Awaiting(Command&& awaited, bool after_content)
        : command(std::move(awaited)), end_of_data(after_content) {}
    Command command;
    bool end_of_data = false;
  };
  void push_awaiting(Command&& command, bool end_of_data);

  Fifo<Awaiting> awaiting_;              // replies due, oldest first
  std::optional<Command> data_command_;  // the last DATA, for its reply after the final dot
  std::optional<Command> blob_command_;  // the XEXCH50 whose blob is awaited or arriving
  std::uint64_t blob_size_ = 0;
  std::uint64_t blob_left_ = 0;
  Fifo<Event> out_;
  std::string pending_;  // client bytes held during a hold_* state
  std::uint64_t pending_dropped_ = 0;
  ClientState client_state_ = ClientState::commands;
  bool banner_seen_ = false;
  bool tls_ = false;
  // After AUTH or a SASL response: how many BASE64 lines that follow are taken for SASL
  // responses sent without waiting, whatever upstream answered (on_client_line).
  int sasl_lines_left_ = 0;
};

}  // namespace hopscope::smtp
