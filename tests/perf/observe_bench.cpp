// What inspecting one SMTP session costs the relay's I/O thread, without sockets: the bytes
// of a typical session (smtp-source's one 1 KB message through Postfix's smtp-sink, in the
// chunks a relay reads them) go through the codec (smtp::Conversation) and FactsRecorder,
// as Session::observe_client/observe_server do; then the audit JSON of that session, as the
// audit worker builds it. A program that prints figures, not a test.
//
//   observe_bench [--sessions N] [--body BYTES] [--messages M]   (defaults 200000, 1024, 1)
//
// --messages M sends M messages in each session, as smtp-source -d does (the bench's bulk
// workload); the figure is then per message as well as per session.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "proxy/audit_json.hpp"
#include "proxy/facts.hpp"
#include "proxy/facts_recorder.hpp"
#include "proxy/smtp/conversation.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Chunk {
  bool from_client;
  std::string bytes;
};

// One session as the relay reads it: each command and reply is its own read (smtp-source
// waits for every reply), the message arrives in one read.
std::vector<Chunk> typical_session(std::size_t body_bytes, long messages) {
  std::string body =
      "From: <foo@example.com>\r\nTo: <bar@example.com>\r\nDate: Tue, 24 Nov 2026 12:00:00 "
      "+0000\r\nMessage-Id: <1234.5678@example.com>\r\nSubject: test\r\n\r\n";
  while (body.size() < body_bytes) {
    body += "La de da de da 1.\r\n";
  }
  body += ".\r\n";
  std::vector<Chunk> chunks{
      {false, "220 sink.example.com ESMTP\r\n"},
      {true, "EHLO source.example.com\r\n"},
      {false,
       "250-sink.example.com\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 0\r\n"
       "250-ENHANCEDSTATUSCODES\r\n250 STARTTLS\r\n"},
  };
  for (long m = 0; m < messages; ++m) {
    chunks.insert(chunks.end(), {
                                    {true, "MAIL FROM:<foo@example.com>\r\n"},
                                    {false, "250 2.1.0 Ok\r\n"},
                                    {true, "RCPT TO:<bar@example.com>\r\n"},
                                    {false, "250 2.1.5 Ok\r\n"},
                                    {true, "DATA\r\n"},
                                    {false, "354 End data with <CR><LF>.<CR><LF>\r\n"},
                                    {true, body},
                                    {false, "250 2.0.0 Ok: queued as 1234\r\n"},
                                });
  }
  chunks.insert(chunks.end(), {{true, "QUIT\r\n"}, {false, "221 2.0.0 Bye\r\n"}});
  return chunks;
}

// One session through the codec and the recorder, as Session::observe_* do.
void record_session(const std::vector<Chunk>& chunks, const hopscope::config::Config& config,
                    hopscope::SessionFacts& facts) {
  hopscope::smtp::Conversation conversation(hopscope::smtp::Limits{config.relay.max_line_bytes});
  const auto now = Clock::now();
  hopscope::FactsRecorder recorder(facts, config.relay.timeouts, now, 5000);
  for (const auto& chunk : chunks) {
    if (chunk.from_client) {
      recorder.client_activity(now);
      conversation.feed_client(chunk.bytes);
    } else {
      recorder.server_activity(now);
      conversation.feed_server(chunk.bytes);
    }
    while (auto event = conversation.next()) {
      recorder.record(*event, now);
    }
    (void)recorder.deadline();
  }
}

}  // namespace

int main(int argc, char** argv) {
  long sessions = 200000;
  std::size_t body_bytes = 1024;
  long messages = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--sessions" && i + 1 < argc) {
      sessions = std::strtol(argv[++i], nullptr, 10);
    } else if (a == "--body" && i + 1 < argc) {
      body_bytes = std::strtoul(argv[++i], nullptr, 10);
    } else if (a == "--messages" && i + 1 < argc) {
      messages = std::max(1L, std::strtol(argv[++i], nullptr, 10));
    } else {
      std::fprintf(stderr, "usage: observe_bench [--sessions N] [--body BYTES] [--messages M]\n");
      return 2;
    }
  }
  const auto chunks = typical_session(body_bytes, messages);
  const hopscope::config::Config config;
  std::size_t transcript_entries = 0;
  const auto started = Clock::now();
  for (long s = 0; s < sessions; ++s) {
    hopscope::SessionFacts facts;
    record_session(chunks, config, facts);
    transcript_entries += facts.transcript.size();
  }
  const double us =
      std::chrono::duration<double, std::micro>(Clock::now() - started).count() / double(sessions);
  std::printf(
      "observe: %.2f us per session, %.2f us per message (%ld sessions of %ld messages, %zu "
      "transcript entries each)\n",
      us, us / double(messages), sessions, messages,
      transcript_entries / static_cast<std::size_t>(sessions));

  // The audit document of the same session, as the audit worker builds it (no findings:
  // policy is not timed here).
  hopscope::SessionFacts facts;
  record_session(chunks, config, facts);
  facts.id = "01JDXK5V6R7S8T9A0B1C2D3E4F";
  facts.started_unix_ms = 1795000000000;
  facts.ended_unix_ms = facts.started_unix_ms + 40;
  const hopscope::AuditOptions options;
  const std::vector<hopscope::FindingView> findings;
  std::size_t document_bytes = 0;
  const auto json_started = Clock::now();
  for (long s = 0; s < sessions; ++s) {
    document_bytes += hopscope::to_json(facts, findings, "ok", options).size();
    document_bytes += hopscope::summary_json_line(facts, findings, "ok", options).size();
  }
  const double json_us =
      std::chrono::duration<double, std::micro>(Clock::now() - json_started).count() /
      double(sessions);
  std::printf("audit JSON: %.2f us per session (document + sessions.jsonl line, %zu bytes)\n",
              json_us, document_bytes / static_cast<std::size_t>(sessions));
  return 0;
}
