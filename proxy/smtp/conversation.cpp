#include "proxy/smtp/conversation.hpp"

#include <algorithm>
#include <string>
#include <utility>

namespace hopscope::smtp {
namespace {

constexpr std::size_t detail_bytes = 200;

// RFC 4954 §4: a client's SASL response is BASE64 (RFC 4648 alphabet, "=" padding), or "*"
// to cancel. A line of capital letters only is taken for a command instead: a verb, or an
// ESMTP-inspecting firewall's mask ("XXXXXXXX", STARTTLS_MASKED's evidence), while BASE64 of
// a real user name or password all but always holds a small letter, digit or "+/=".
bool looks_like_sasl_response(std::string_view line) {
  if (line == "*") {
    return true;
  }
  const bool base64 = !line.empty() && std::all_of(line.begin(), line.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '=';
  });
  const bool capitals_only =
      std::all_of(line.begin(), line.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
  return base64 && !capitals_only;
}

std::string capped(std::string_view s) {
  return std::string(s.substr(0, detail_bytes));
}

}  // namespace

const char* to_string(Direction dir) {
  return dir == Direction::client_to_server ? "c>s" : "s>c";
}

Conversation::Conversation(Limits limits)
    : limits_(limits),
      client_reader_(limits.max_line_bytes),
      server_parser_(limits.max_line_bytes, limits.max_reply_lines, limits.max_reply_bytes) {}

void Conversation::feed_client(std::string_view bytes) {
  client_input(bytes);
}

void Conversation::feed_server(std::string_view bytes) {
  if (tls_) {
    return;
  }
  server_parser_.feed(bytes);
  // Each event is read in place and dropped once handled: a Reply is moved only into its
  // ServerReply.
  while (!tls_) {
    ReplyEvent* event = server_parser_.peek();
    if (event == nullptr) {
      return;
    }
    on_reply_event(*event);
    server_parser_.drop_front();
  }
}

void Conversation::on_reply_event(ReplyEvent& event) {
  if (auto* reply = std::get_if<Reply>(&event)) {
    on_reply(std::move(*reply));
  } else if (auto* bad = std::get_if<MalformedReply>(&event)) {
    anomaly(Direction::server_to_client, "malformed_reply",
            bad->reason + ": " + capped(bad->lines.back()));
    // Never guessed: code 0, lines verbatim. It still answers the oldest command, as the
    // sender will take it as a (failed) reply (Postfix smtp_chat.c does the same).
    Reply as_is;
    as_is.lines = std::move(bad->lines);
    on_reply(std::move(as_is));
  } else if (auto* too_long = std::get_if<ReplyTooLong>(&event)) {
    anomaly(Direction::server_to_client, "reply_too_long",
            "code " + std::to_string(too_long->code) + " past " +
                std::to_string(too_long->max_lines) + " lines or " +
                std::to_string(too_long->max_bytes) + " bytes");
  } else if (auto* line = std::get_if<LineTooLong>(&event)) {
    anomaly(Direction::server_to_client, "line_too_long",
            "limit " + std::to_string(line->limit) + ": " + capped(line->prefix));
  } else if (auto* bare = std::get_if<ReplyBareLf>(&event)) {
    anomaly(Direction::server_to_client, "bare_lf", bare->line);
  }
}

std::optional<Event> Conversation::next() {
  if (out_.empty()) {
    return std::nullopt;
  }
  // Moved once, straight into the result: an event holding a Command is not cheap to move.
  std::optional<Event> event(std::in_place, std::move(out_.front()));
  out_.pop_front();
  return event;
}

void Conversation::anomaly(Direction dir, std::string kind, std::string_view detail) {
  out_.emplace_back(Anomaly{dir, std::move(kind), capped(detail)});
}

void Conversation::client_input(std::string_view bytes) {
  std::string carry;  // bytes the line reader held when the framing changed
  for (;;) {
    switch (client_state_) {
      case ClientState::tls:
        return;
      case ClientState::hold_data:
      case ClientState::hold_starttls:
      case ClientState::hold_auth:
      case ClientState::hold_blob:
        hold(bytes);
        return;
      case ClientState::blob: {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(blob_left_, bytes.size()));
        blob_left_ -= n;
        bytes.remove_prefix(n);
        if (blob_left_ > 0) {
          return;
        }
        finish_blob();
        continue;
      }
      case ClientState::content: {
        if (bytes.empty()) {
          return;
        }
        const std::size_t used = framer_.feed(bytes);
        drain_framer();
        bytes.remove_prefix(used);
        if (framer_.active()) {
          return;
        }
        client_state_ = ClientState::commands;
        continue;
      }
      case ClientState::commands:
      case ClientState::sasl_line: {
        if (!bytes.empty()) {
          client_reader_.feed(bytes);
          bytes = {};
        }
        const ClientState before = client_state_;
        if (!pump_client_line()) {
          return;
        }
        if (client_state_ != before && client_state_ != ClientState::commands &&
            client_state_ != ClientState::sasl_line) {
          // The framing changed: the bytes after this line are not lines any more.
          carry = client_reader_.take_buffered();
          bytes = carry;
        }
        continue;
      }
    }
  }
}

bool Conversation::pump_client_line() {
  std::optional<LineEvent> event = client_reader_.next();
  if (!event) {
    return false;
  }
  on_client_line(std::move(*event));
  return true;
}

void Conversation::on_client_line(LineEvent event) {
  const bool sasl = client_state_ == ClientState::sasl_line;
  std::string text;
  bool too_long = false;
  bool bare_lf = false;
  std::size_t limit = 0;
  if (auto* line = std::get_if<Line>(&event)) {
    bare_lf = line->ending == LineEnding::bare_lf;
    text = std::move(line->text);
  } else {
    auto& long_line = std::get<LineTooLong>(event);
    limit = long_line.limit;
    text = std::move(long_line.prefix);
    too_long = true;
  }
  // An anomaly quotes the line as the transcript does: an AUTH initial response or a SASL
  // response is a secret (DESIGN §5), whatever else is odd about the line.
  Command command = sasl ? sasl_response(text) : parse_command_taking(std::move(text));
  if (!sasl) {
    // A sender that sends its SASL responses without waiting for 334 (or after a refused
    // AUTH) makes them look like commands: still secrets (DESIGN §5). (raw is the line.)
    if (sasl_lines_left_ > 0 && command.kind == CommandKind::other &&
        looks_like_sasl_response(command.raw)) {
      command.redact();
      --sasl_lines_left_;
    } else {
      // AUTH LOGIN sends at most two responses unasked (user name, password); PLAIN one.
      sasl_lines_left_ = command.kind == CommandKind::auth ? 2 : 0;
    }
  } else {
    sasl_lines_left_ = 1;  // a response the server then refuses may be followed by the next
  }
  if (bare_lf) {
    anomaly(Direction::client_to_server, "bare_lf", command.transcript_line());
  }
  if (too_long) {
    anomaly(Direction::client_to_server, "line_too_long",
            "limit " + std::to_string(limit) +
                (command.secret ? std::string() : ": " + capped(command.transcript_line())));
  }
  if (sasl) {
    emit_command(std::move(command));
    client_state_ = ClientState::hold_auth;
    return;
  }
  if (too_long) {
    // Only a prefix is known: record it, but take no framing decision on it.
    command.kind = CommandKind::other;
    command.bdat_size.reset();
  }
  if (!command.error.empty()) {
    anomaly(Direction::client_to_server, std::string(command.error), command.transcript_line());
  }
  const CommandKind kind = command.kind;
  const std::optional<std::uint64_t> bdat_size = command.bdat_size;
  emit_command(std::move(command));
  switch (kind) {
    case CommandKind::data:
      framer_.reset();
      client_state_ = ClientState::hold_data;
      break;
    case CommandKind::starttls:
      client_state_ = ClientState::hold_starttls;
      break;
    case CommandKind::auth:
      client_state_ = ClientState::hold_auth;
      break;
    case CommandKind::xexch50:
      if (bdat_size) {
        blob_size_ = *bdat_size;
        blob_left_ = *bdat_size;
        client_state_ = ClientState::hold_blob;
      }
      break;
    case CommandKind::bdat:
    case CommandKind::bdat_last:
      if (bdat_size) {
        // RFC 3030 §2: the chunk follows whatever the reply; no reply is awaited.
        framer_.start_bdat(*bdat_size, kind == CommandKind::bdat_last);
        drain_framer();
        if (framer_.active()) {
          client_state_ = ClientState::content;
        }
      }
      break;
    case CommandKind::helo:
    case CommandKind::ehlo:
    case CommandKind::mail:
    case CommandKind::rset:
      framer_.reset();
      break;
    default:
      break;
  }
}

void Conversation::emit_command(Command&& command) {
  // The event gets a copy (raw is its only allocation), the reply it awaits the original.
  out_.emplace_back(std::in_place_type<ClientCommand>, ClientCommand{command});
  if (command.kind == CommandKind::data) {
    data_command_ = command;
  } else if (command.kind == CommandKind::xexch50) {
    blob_command_ = command;
  }
  push_awaiting(std::move(command), false);
}

void Conversation::push_awaiting(Command&& command, bool end_of_data) {
  if (awaiting_.size() >= limits_.max_pipelined_commands) {
    anomaly(Direction::client_to_server, "pipeline_overflow",
            std::to_string(awaiting_.size()) + " commands await replies");
    return;
  }
  awaiting_.emplace_back(std::move(command), end_of_data);
}

void Conversation::hold(std::string_view bytes) {
  const std::size_t room =
      pending_.size() < limits_.max_pending_bytes ? limits_.max_pending_bytes - pending_.size() : 0;
  pending_.append(bytes.substr(0, room));
  if (bytes.size() > room) {
    if (pending_dropped_ == 0) {
      anomaly(Direction::client_to_server, "pending_overflow",
              "more than " + std::to_string(limits_.max_pending_bytes) +
                  " bytes before the reply; later bytes not parsed");
    }
    pending_dropped_ += bytes.size() - room;
  }
}

void Conversation::release(ClientState next) {
  std::string held = std::move(pending_);
  pending_.clear();
  const std::uint64_t dropped = pending_dropped_;
  pending_dropped_ = 0;
  client_state_ = next;
  client_input(held);
  if (dropped > 0 && client_state_ == ClientState::content) {
    // Known limitation: dropped bytes are gone, so the message is marked incomplete and its
    // line position is unknown; command parsing after a gap may start mid-line.
    framer_.mark_gap();
  } else if (dropped > 0 && client_state_ == ClientState::blob) {
    // The dropped bytes came right after the held ones: blob bytes first, as far as the
    // blob goes (what lies beyond it is lost to parsing, as after any gap).
    blob_left_ -= std::min(dropped, blob_left_);
    if (blob_left_ == 0) {
      finish_blob();
    }
  }
}

void Conversation::finish_blob() {
  out_.emplace_back(BlobEnd{blob_size_});
  if (blob_command_) {
    push_awaiting(std::move(*blob_command_), true);
    blob_command_.reset();
  }
  client_state_ = ClientState::commands;
}

void Conversation::drain_framer() {
  while (std::optional<FramerEvent> event = framer_.next()) {
    if (const auto* end = std::get_if<MessageEnd>(&*event);
        end != nullptr && end->transfer == Transfer::data && data_command_) {
      // RFC 5321 §4.1.1.4: DATA has a second reply, after the final dot; it takes its place
      // among the commands pipelined after the message.
      push_awaiting(Command(*data_command_), true);
    }
    std::visit([this](auto& e) { out_.emplace_back(std::move(e)); }, *event);
  }
}

void Conversation::emit_reply(Reply&& reply, Command* in_reply_to, bool after_content) {
  // Built in place, each part moved once (a ServerReply holds a whole Command): cheaper than
  // moving a whole ServerReply into the queue.
  auto& event = std::get<ServerReply>(out_.emplace_back(std::in_place_type<ServerReply>));
  event.reply = std::move(reply);
  if (in_reply_to != nullptr) {
    event.in_reply_to.emplace(std::move(*in_reply_to));
  }
  event.after_content = after_content;
}

void Conversation::on_reply(Reply&& reply) {
  if (!banner_seen_) {
    banner_seen_ = true;
    emit_reply(std::move(reply), nullptr, false);
    return;
  }
  if (awaiting_.empty()) {
    anomaly(Direction::server_to_client, "unexpected_reply",
            reply.lines.empty() ? std::string_view() : std::string_view(reply.lines.front()));
    emit_reply(std::move(reply), nullptr, false);
    return;
  }
  Awaiting& due = awaiting_.front();
  const CommandKind kind = due.command.kind;
  const bool end_of_data = due.end_of_data;
  const int code = reply.code;
  emit_reply(std::move(reply), &due.command, end_of_data);
  awaiting_.pop_front();
  switch (kind) {
    case CommandKind::data:
      // The final reply of a message is not the answer to a DATA pipelined after its dot
      // (RFC 2920 §3.1): that DATA is still waiting for its own 354.
      if (!end_of_data && client_state_ == ClientState::hold_data) {
        if (is_positive_intermediate(code)) {
          framer_.start_data();
          release(ClientState::content);
        } else {
          release(ClientState::commands);  // rejected DATA: what follows are commands
        }
      }
      break;
    case CommandKind::starttls:
      if (client_state_ == ClientState::hold_starttls) {
        if (code >= 200 && code <= 299) {
          // RFC 3207 §4.2: what follows is TLS; plaintext held here is injection evidence.
          tls_ = true;
          client_state_ = ClientState::tls;
          out_.emplace_back(StartTls{std::move(pending_), server_parser_.take_buffered()});
          pending_.clear();
          pending_dropped_ = 0;
        } else {
          release(ClientState::commands);
        }
      }
      break;
    case CommandKind::xexch50:
      if (!end_of_data && client_state_ == ClientState::hold_blob) {
        if (code == 354 && blob_left_ > 0) {
          release(ClientState::blob);
        } else if (code == 354) {
          finish_blob();  // an empty blob is complete at once: its second reply is due now
          release(ClientState::commands);
        } else {
          blob_command_.reset();  // refused: what follows are commands
          release(ClientState::commands);
        }
      }
      break;
    case CommandKind::auth:
    case CommandKind::auth_response:
      if (client_state_ == ClientState::hold_auth) {
        release(is_positive_intermediate(code) ? ClientState::sasl_line : ClientState::commands);
      }
      break;
    default:
      break;
  }
}

}  // namespace hopscope::smtp
