// How a relayed session ends, as the audit says it (DESIGN.md §5 `end`, §6
// SENDER_ABANDONED_AFTER_TLS): a close that hopscope itself makes (tls_idle timeout, end of
// the drain) is never recorded as the sender's; an upstream that goes away says when, and
// whether it reset; a STARTTLS refused by upstream is never counted as used.

#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <future>
#include <optional>
#include <regex>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "postfix_instance.hpp"
#include "relay_fixture.hpp"
#include "scripted_upstream.hpp"
#include "smtp_client.hpp"
#include "test_pki.hpp"
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>

namespace hopscope::test {
namespace {

using namespace std::chrono_literals;

struct TlsWorld {
  TempDir dir{"hopscope-end-pki"};
  TestPki pki{dir.path()};
};

// Postfix offering STARTTLS over TLS 1.2 only: the handshake is then visible to the relay's
// observer, and the sender's silence after it is what SENDER_ABANDONED_AFTER_TLS looks at.
PostfixOptions postfix_tls12(const TlsWorld& world) {
  PostfixOptions po;
  po.tls = PostfixTls::may;
  po.cert_file = world.pki.server().cert;
  po.key_file = world.pki.server().key;
  po.tls_protocols = std::string(tls_only_1_2);
  return po;
}

// `openssl s_client -starttls smtp` through the relay, then silent: stdin is /dev/null and
// -ign_eof keeps it connected. Returns once s_client printed its post-handshake summary.
std::unique_ptr<Process> silent_tls_sender(const RelayProcess& relay) {
  auto client = std::make_unique<Process>(std::vector<std::string>{
      "openssl", "s_client", "-starttls", "smtp", "-connect", relay.address(), "-ign_eof"});
  static const std::regex handshake_done("SSL handshake has read");
  if (!client->wait_for_line(Stream::out, handshake_done, 20s)) {
    ADD_FAILURE() << "s_client did not complete the handshake:\n" << client->describe();
  }
  return client;
}

std::string findings_text(const boost::json::object& doc) {
  const auto* f = json_at(doc, "findings");
  return f == nullptr ? "(no findings field)" : boost::json::serialize(*f);
}

bool has_finding(const boost::json::object& doc, const std::string& id) {
  const auto* all = json_at(doc, "findings");
  if (all == nullptr || !all->is_array()) {
    return false;
  }
  for (const auto& v : all->as_array()) {
    const auto* const it = v.as_object().find("id");
    if (it != v.as_object().end() && it->value().is_string() && it->value().as_string() == id) {
      return true;
    }
  }
  return false;
}

bool closed_first(const boost::json::object& doc) {
  const auto* v = json_at(doc, "downstream.closed_first");
  return v != nullptr && v->is_bool() && v->as_bool();
}

// The sender completed TLS and stayed silent; hopscope cut it at tls_idle. The sender did not
// close first, so it did not "abandon" anything.
TEST(RelayEnd, TlsIdleTimeoutIsNotRecordedAsTheSenderClosing) {
  TlsWorld world;
  PostfixInstance postfix(postfix_tls12(world));
  RelayProcess relay({.upstream = postfix.address(),
                      .extra_toml = "[relay.timeouts]\ndata_end = \"2s\"\ntls_idle = \"2s\"\n"});
  const auto sender = silent_tls_sender(relay);
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U) << relay.stderr_text();
  const auto& doc = docs[0];
  ASSERT_EQ(json_string(doc, "upstream.starttls.handshake"), "ok") << findings_text(doc);
  EXPECT_EQ(json_string(doc, "end.reason"), "timeout");
  EXPECT_FALSE(closed_first(doc));
  EXPECT_FALSE(has_finding(doc, "SENDER_ABANDONED_AFTER_TLS")) << findings_text(doc);
}

// The same silent TLS sender, closed by hopscope at the end of the drain after SIGTERM.
TEST(RelayEnd, DrainCloseIsNotRecordedAsTheSenderClosing) {
  TlsWorld world;
  PostfixInstance postfix(postfix_tls12(world));
  RelayProcess relay(
      {.upstream = postfix.address(), .extra_toml = "[relay.timeouts]\ndrain = \"500ms\"\n"});
  const auto sender = silent_tls_sender(relay);
  ::kill(relay.process().pid(), SIGTERM);
  const auto code = relay.process().wait(20s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U) << relay.stderr_text();
  const auto& doc = docs[0];
  ASSERT_EQ(json_string(doc, "upstream.starttls.handshake"), "ok") << findings_text(doc);
  EXPECT_EQ(json_string(doc, "end.reason"), "shutdown");
  EXPECT_FALSE(closed_first(doc));
  EXPECT_FALSE(has_finding(doc, "SENDER_ABANDONED_AFTER_TLS")) << findings_text(doc);
}

// A sender that ends TLS politely, as Exchange Online does when it rejects the certificate
// (450 4.7.320): close_notify, then it waits for the server's close_notify and its close
// before closing its own socket. Upstream's FIN reaches the relay first, yet the sender ended
// the session: its encrypted alert came first.
TEST(RelayEnd, SenderCloseNotifyFirstIsTheSenderEndingEvenWhenUpstreamClosesFirst) {
  TlsWorld world;
  PostfixInstance postfix(postfix_tls12(world));
  RelayProcess relay({.upstream = postfix.address()});
  {
    SmtpClient client(relay.host(), relay.port());
    ASSERT_TRUE(client.greet_and_ehlo().has_keyword("STARTTLS"));
    ASSERT_EQ(client.command("STARTTLS").code, 220);
    const std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                                &SSL_CTX_free);
    ASSERT_TRUE(ctx);
    const std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), &SSL_free);
    ASSERT_TRUE(ssl);
    SSL_set_fd(ssl.get(), client.fd());
    ASSERT_EQ(SSL_connect(ssl.get()), 1);
    EXPECT_EQ(SSL_shutdown(ssl.get()), 0);  // our close_notify is out; the server's is due
    char byte = 0;
    EXPECT_LE(SSL_read(ssl.get(), &byte, 1), 0);  // the server's close_notify, or its close
    EXPECT_TRUE(client.wait_closed());            // upstream's end, passed on by the relay
  }
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U) << relay.stderr_text();
  const auto& doc = docs[0];
  ASSERT_EQ(json_string(doc, "upstream.starttls.handshake"), "ok") << findings_text(doc);
  EXPECT_EQ(json_string(doc, "end.reason"), "client_closed") << boost::json::serialize(doc);
  EXPECT_EQ(json_string(doc, "upstream.tls.first_encrypted_alert"), "c>s");
  EXPECT_TRUE(closed_first(doc));
  EXPECT_TRUE(has_finding(doc, "SENDER_ABANDONED_AFTER_TLS")) << findings_text(doc);
}

// An upstream that accepts but never greets (its listen queue full, say): a sender that gives
// up no longer holds the session (and its max_sessions_per_client slot) for the whole
// greeting deadline, only for timeouts.connect, and the audit says what happened.
TEST(RelayEnd, SenderLeavingBeforeTheGreetingHoldsTheSessionOnlyForTheConnectTimeout) {
  std::promise<void> checked;  // the upstream holds its socket open until the test is done
  ScriptedUpstream upstream([done = checked.get_future().share()](ScriptedConnection& c) {
    while (c.read_line() != "<eof>") {  // silent: no 220; reads what the relay passes on
    }
    (void)done.wait_for(30s);  // and never closes on its own
  });
  RelayProcess relay({.upstream = upstream.address(),
                      .extra_toml = "[relay.timeouts]\ngreeting = \"2m\"\nconnect = \"1s\"\n"});
  {
    SmtpClient client(relay.host(), relay.port());
    client.send("QUIT\r\n");
  }  // the sender closes without a greeting
  ASSERT_TRUE(relay.wait_for_sessions(1, 20s)) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U) << relay.stderr_text();
  EXPECT_EQ(json_string(docs[0], "end.reason"), "timeout");
  EXPECT_NE(json_string(docs[0], "end.detail").find("the sender had closed its side"),
            std::string::npos)
      << boost::json::serialize(docs[0]);
  checked.set_value();
}

// A script that pipelines its commands and half-closes before the banner (ncat, socat) still
// reads the replies: its end of input is not the end of the session.
TEST(RelayEnd, HalfClosingSenderBeforeTheGreetingStillGetsTheReplies) {
  ScriptedUpstream upstream([](ScriptedConnection& c) {
    while (c.read_line() != "<eof>") {  // EHLO, QUIT, then the sender's half-close
    }
    c.say("220 mail.contoso.test ESMTP\r\n250 mail.contoso.test\r\n221 2.0.0 bye\r\n");
  });
  RelayProcess relay({.upstream = upstream.address()});
  SmtpClient client(relay.host(), relay.port());
  client.send("EHLO client.example.test\r\nQUIT\r\n");
  ASSERT_EQ(::shutdown(client.fd(), SHUT_WR), 0);
  EXPECT_EQ(client.read_reply().code, 220);
  EXPECT_EQ(client.read_reply().code, 250);
  EXPECT_EQ(client.read_reply().code, 221);
  ASSERT_TRUE(relay.wait_for_sessions(1, 20s)) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U) << relay.stderr_text();
  EXPECT_EQ(json_string(docs[0], "end.reason"), "quit") << boost::json::serialize(docs[0]);
}

// A second signal during the drain closes a session mid-message at once: stderr says so, and
// the audit says a second signal closed it, not the end of a drain that had barely begun.
TEST(RelayEnd, SecondSignalIsSaidOnStderrAndInTheAudit) {
  ScriptedUpstream upstream([](ScriptedConnection& c) {
    accept_envelope(c);
    c.read_until_final_dot();  // the body never ends: until the relay closes
  });
  RelayProcess relay(
      {.upstream = upstream.address(), .extra_toml = "[relay.timeouts]\ndrain = \"60s\"\n"});
  SmtpClient client(relay.host(), relay.port());
  (void)client.greet_and_ehlo();
  ASSERT_EQ(client.command("MAIL FROM:<a@example.test>").code, 250);
  ASSERT_EQ(client.command("RCPT TO:<u@contoso.test>").code, 250);
  ASSERT_EQ(client.command("DATA").code, 354);
  client.send("Subject: cut\r\n\r\nthe first half of a body\r\n");
  ::kill(relay.process().pid(), SIGTERM);
  static const std::regex draining("draining \\(up to 60 s\\)");
  ASSERT_TRUE(relay.process().wait_for_line(Stream::err, draining, 20s)) << relay.stderr_text();
  ::kill(relay.process().pid(), SIGTERM);
  static const std::regex again("received again: closing 1 session now");
  EXPECT_TRUE(relay.process().wait_for_line(Stream::err, again, 20s)) << relay.stderr_text();
  const auto code = relay.process().wait(20s);
  ASSERT_TRUE(code.has_value()) << relay.stderr_text();
  EXPECT_EQ(*code, 0) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U) << relay.stderr_text();
  EXPECT_EQ(json_string(docs[0], "end.reason"), "shutdown");
  EXPECT_EQ(json_string(docs[0], "end.detail"), "closed by a second signal during the drain");
  // The second signal ended the drain, not its period: no "drain period over" line after it
  // (it came when the session had not finished closing when the drain loop looked).
  EXPECT_EQ(relay.stderr_text().find("drain period over"), std::string::npos)
      << relay.stderr_text();
}

// RFC 3207 §4: 454 "TLS not available due to temporary reason"; the mail then goes in clear.
TEST(RelayEnd, StarttlsRefusedWith454IsNotCountedAsUsed) {
  ScriptedUpstream upstream([](ScriptedConnection& c) {
    c.say("220 mail.contoso.test ESMTP\r\n");
    c.read_line();  // EHLO
    c.say("250-mail.contoso.test\r\n250-8BITMIME\r\n250 STARTTLS\r\n");
    c.read_line();  // STARTTLS
    c.say("454 4.7.0 TLS not available due to local problem\r\n");
    c.read_line();  // QUIT
    c.say("221 2.0.0 bye\r\n");
  });
  RelayProcess relay({.upstream = upstream.address()});
  {
    SmtpClient client(relay.host(), relay.port());
    EXPECT_TRUE(client.greet_and_ehlo().has_keyword("STARTTLS"));
    EXPECT_EQ(client.command("STARTTLS").code, 454);
    client.quit();
  }
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  std::ifstream index(relay.audit_directory() / "sessions.jsonl");
  std::string line;
  ASSERT_TRUE(std::getline(index, line));
  const auto summary = boost::json::parse(line).as_object();
  EXPECT_TRUE(summary.at("starttls_offered").as_bool()) << line;
  EXPECT_FALSE(summary.at("starttls_used").as_bool()) << line;
  const auto err = relay.stderr_text();
  EXPECT_NE(err.find("starttls offered=yes used=no"), std::string::npos) << err;
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U);
  const auto* attempted = json_at(docs[0], "upstream.starttls.attempted");
  ASSERT_NE(attempted, nullptr);
  EXPECT_TRUE(attempted->as_bool());  // it was tried: only "used" is false
}

// Greets, accepts EHLO, MAIL, RCPT and DATA, reads the first content line, then resets.
TEST(RelayEnd, UpstreamResetMidDataIsSaidInEndDetail) {
  ScriptedUpstream upstream([](ScriptedConnection& c) {
    accept_envelope(c);
    c.read_line();  // the first content line
    c.reset_on_close();
  });
  RelayProcess relay({.upstream = upstream.address()});
  {
    SmtpClient client(relay.host(), relay.port());
    (void)client.greet_and_ehlo();
    EXPECT_EQ(client.command("MAIL FROM:<a@example.test>").code, 250);
    EXPECT_EQ(client.command("RCPT TO:<u@contoso.test>").code, 250);
    EXPECT_EQ(client.command("DATA").code, 354);
    client.send("Subject: cut\r\n\r\nbody\r\n");
    // The relay passes upstream's end on to the sender; no final dot was sent before it.
    EXPECT_TRUE(client.wait_closed());
    // The sender's dot after upstream is gone reaches no one: the message stays cut off.
    client.send(".\r\n");
  }
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U);
  EXPECT_EQ(json_string(docs[0], "end.reason"), "upstream_closed");
  const auto detail = json_string(docs[0], "end.detail");
  EXPECT_TRUE(std::regex_search(
      detail, std::regex("^upstream reset the connection during DATA after [0-9]+ bytes of "
                         "content from the sender, before the final dot$")))
      << detail;
  EXPECT_FALSE(closed_first(docs[0]));
  // The message cut off keeps the size seen, has no SHA-256, and says why.
  const auto* messages = json_at(docs[0], "messages");
  ASSERT_TRUE(messages != nullptr && messages->is_array() && messages->as_array().size() == 1U);
  const auto& message = messages->as_array()[0].as_object();
  EXPECT_EQ(message.at("size"), 22) << boost::json::serialize(message);
  EXPECT_TRUE(message.at("sha256").is_null());
  const std::string anomalies = boost::json::serialize(*json_at(docs[0], "anomalies"));
  EXPECT_NE(anomalies.find("message_incomplete"), std::string::npos) << anomalies;
  EXPECT_EQ(anomalies.find("final_reply_missing"), std::string::npos) << anomalies;
}

// A drain that ends while upstream is still deciding on a message whose final dot it has:
// upstream holds `reply` until the relay says it waits for the session.
struct DrainBeforeTheFinalReply {
  explicit DrainBeforeTheFinalReply(const std::string& reply)
      : upstream([this, reply](ScriptedConnection& c) {
          accept_envelope(c);
          c.read_until_final_dot();
          dot_seen.set_value();
          may_reply.get_future().wait();
          c.say(reply);
          c.read_line();  // what was pipelined behind the dot, or hopscope's close
        }),
        relay({.upstream = upstream.address(),
               .extra_toml = "[relay.timeouts]\ndrain = \"200ms\"\n"}),
        client(relay.host(), relay.port()) {}
  // Whatever failed, upstream's thread must not wait for ever (its join would hang the test).
  ~DrainBeforeTheFinalReply() {
    try {
      may_reply.set_value();
    } catch (const std::future_error&) {
      // already set
    }
  }
  DrainBeforeTheFinalReply(const DrainBeforeTheFinalReply&) = delete;
  DrainBeforeTheFinalReply& operator=(const DrainBeforeTheFinalReply&) = delete;
  DrainBeforeTheFinalReply(DrainBeforeTheFinalReply&&) = delete;
  DrainBeforeTheFinalReply& operator=(DrainBeforeTheFinalReply&&) = delete;

  // Sends a message with `after_dot` in the same write as its dot, sends SIGTERM once
  // upstream has the dot, and lets upstream reply once the relay says it waits.
  void drain(const std::string& after_dot) {
    (void)client.greet_and_ehlo();
    ASSERT_EQ(client.command("MAIL FROM:<a@example.test>").code, 250);
    ASSERT_EQ(client.command("RCPT TO:<u@contoso.test>").code, 250);
    ASSERT_EQ(client.command("DATA").code, 354);
    client.send("Subject: drain\r\n\r\nbody\r\n.\r\n" + after_dot);
    ASSERT_EQ(dot_seen.get_future().wait_for(20s), std::future_status::ready);
    ::kill(relay.process().pid(), SIGTERM);
    static const std::regex waiting("1 session is still open: waiting up to 600 s");
    const bool announced = relay.process().wait_for_line(Stream::err, waiting, 20s).has_value();
    may_reply.set_value();
    ASSERT_TRUE(announced) << relay.stderr_text();
  }

  // The relay's exit, then its one document.
  std::optional<boost::json::object> document() {
    const auto code = relay.process().wait(20s);
    EXPECT_TRUE(code.has_value()) << relay.stderr_text();
    EXPECT_EQ(code.value_or(-1), 0) << relay.stderr_text();
    auto docs = relay.documents();
    EXPECT_EQ(docs.size(), 1U) << relay.stderr_text();
    if (docs.size() != 1U) {
      return std::nullopt;
    }
    return std::move(docs[0]);
  }

  std::promise<void> dot_seen;
  std::promise<void> may_reply;
  ScriptedUpstream upstream;
  RelayProcess relay;
  SmtpClient client;
};

// The sender must get upstream's reply, not hopscope's 421, or it sends the message again
// although upstream took it (RFC 1047, RFC 5321 §6.1).
TEST(RelayEnd, DrainEndWaitsForTheReplyToAFinishedMessage) {
  // RFC 2920 §3.1: the next transaction (or a RSET) may follow the dot in the same write.
  for (const std::string pipelined : {"", "RSET\r\n", "MAIL FROM:<c@example.test>\r\n"}) {
    SCOPED_TRACE("pipelined after the dot: " + pipelined);
    DrainBeforeTheFinalReply scene("250 2.0.0 Ok: queued as 4XyZ1\r\n");
    ASSERT_NO_FATAL_FAILURE(scene.drain(pipelined));
    SmtpReply reply;
    try {
      reply = scene.client.read_reply();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "no reply after the dot: " << e.what();
    }
    EXPECT_EQ(reply.code, 250) << reply.raw;
    const auto doc = scene.document();
    ASSERT_TRUE(doc.has_value());
    EXPECT_EQ(json_string(*doc, "end.reason"), "shutdown");
    const auto* messages = json_at(*doc, "messages");
    ASSERT_TRUE(messages != nullptr && messages->is_array() && !messages->as_array().empty());
    EXPECT_EQ(json_string(messages->as_array()[0].as_object(), "reply"),
              "250 2.0.0 Ok: queued as 4XyZ1");
  }
}

// The same drain end, with QUIT pipelined behind the dot: upstream's reply to the message and
// its 221 come in one write. The sender gets both and then the end of the connection, not
// hopscope's 421 after the 221, and the session ended as the sender meant it: quit.
TEST(RelayEnd, DrainEndAfterThe221ToAPipelinedQuitSaysNo421) {
  DrainBeforeTheFinalReply scene("250 2.0.0 Ok: queued as 4XyZ2\r\n221 2.0.0 Bye\r\n");
  ASSERT_NO_FATAL_FAILURE(scene.drain("QUIT\r\n"));
  EXPECT_EQ(scene.client.read_reply().code, 250);
  EXPECT_EQ(scene.client.read_reply().code, 221);
  const auto doc = scene.document();
  ASSERT_TRUE(doc.has_value());
  EXPECT_EQ(json_string(*doc, "end.reason"), "quit");
  const std::string transcript = boost::json::serialize(*json_at(*doc, "transcript"));
  EXPECT_EQ(transcript.find("421"), std::string::npos) << transcript;
}

// RFC 5321 §4.1.1.10: after QUIT and 221 the session is over. When upstream closes and the
// sender does not, hopscope ends the session at once (as "quit"), instead of holding it,
// and a slot of max_sessions, until the command timeout and then writing a 421 no one reads.
TEST(RelayEnd, SessionEndsAtOnceAfter221WhenTheSenderLingers) {
  ScriptedUpstream upstream([](ScriptedConnection& c) {
    c.say("220 scripted ESMTP\r\n");
    c.read_line();
    c.say("250 scripted\r\n");
    c.read_line();
    c.say("221 2.0.0 Bye\r\n");
  });
  RelayProcess relay(
      {.upstream = upstream.address(), .extra_toml = "[relay.timeouts]\ncommand = \"60s\"\n"});
  SmtpClient client(relay.host(), relay.port());
  (void)client.greet_and_ehlo();
  EXPECT_EQ(client.command("QUIT").code, 221);
  // The sender keeps its socket open and says nothing more.
  ASSERT_TRUE(relay.wait_for_sessions(1, 20s)) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U);
  EXPECT_EQ(json_string(docs[0], "end.reason"), "quit");
  const std::string transcript = boost::json::serialize(*json_at(docs[0], "transcript"));
  EXPECT_EQ(transcript.find("421"), std::string::npos) << transcript;
  EXPECT_TRUE(client.wait_closed());
}

// getaddrinfo(3) cannot be cancelled: a session that waited for its cancelled lookup would
// give the sender nothing (no banner, no 421) for as long as a hung DNS server takes, and the
// lookups of later sessions queue behind it. timeouts.connect bounds resolving too.
TEST(RelayEnd, HungDnsLookupGives421WithinTheConnectTimeout) {
  RelayProcess relay({.upstream = "mail.hang.test:25",
                      .extra_toml = "[relay.timeouts]\nconnect = \"1s\"\n",
                      // Under the sanitize preset the relay carries ASan, whose runtime
                      // must otherwise come first in the preload list.
                      .extra_env = {std::string("LD_PRELOAD=") + HOPSCOPE_HUNG_DNS,
                                    "ASAN_OPTIONS=verify_asan_link_order=0"}});
  for (int sender = 0; sender < 2; ++sender) {
    // The lookup hangs for 8 s; the sender waits at most 5 s for the relay's first line.
    SmtpClient client(relay.host(), relay.port(), 5s);
    SmtpReply greeting;
    try {
      greeting = client.read_reply();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "sender " << sender << ": no 421 within 5 s: " << e.what();
    }
    EXPECT_EQ(greeting.code, 421) << greeting.raw;
    EXPECT_NE(greeting.raw.find("resolving mail.hang.test timed out after 1s"), std::string::npos)
        << greeting.raw;
  }
  ASSERT_TRUE(relay.wait_for_sessions(2)) << relay.stderr_text();
  for (const auto& doc : relay.documents()) {
    EXPECT_EQ(json_string(doc, "end.reason"), "upstream_unreachable");
  }
}

// Upstream refuses a message while the relay is still writing it (a 554 for a size limit)
// and resets: the write fails first (the epoll reactor completes writes before reads on one
// socket), but the refusal already read must still reach the sender, or it retries a message
// refused for good. The relay is stopped while upstream speaks, so both arrive together.
TEST(RelayEnd, RefusalBeforeUpstreamResetReachesTheSenderWhileTheBodyIsWritten) {
  std::promise<void> relay_stopped;
  std::promise<void> upstream_gone;
  ScriptedUpstream upstream([&](ScriptedConnection& c) {
    c.no_delay();
    accept_envelope(c);
    relay_stopped.get_future().wait();  // the relay is (most often) blocked writing to us
    c.say("554 5.3.4 Message too big for system\r\n");
    c.reset_on_close();
    c.close();
    upstream_gone.set_value();
  });
  RelayProcess relay({.upstream = upstream.address()});
  SmtpClient client(relay.host(), relay.port());
  (void)client.greet_and_ehlo();
  ASSERT_EQ(client.command("MAIL FROM:<a@example.test>").code, 250);
  ASSERT_EQ(client.command("RCPT TO:<u@contoso.test>").code, 250);
  ASSERT_EQ(client.command("DATA").code, 354);
  // Upstream reads nothing more: write the body until the sender's socket is full. Most
  // often the relay has then stopped reading because its write to upstream cannot finish;
  // else its next write meets the reset first. Either way the 554 must reach the sender.
  const int flags = ::fcntl(client.fd(), F_GETFL);
  ::fcntl(client.fd(), F_SETFL, flags | O_NONBLOCK);
  const std::string lines(std::size_t{64} * 1024, 'x');
  std::size_t written = 0;
  constexpr std::size_t most = 256U << 20U;
  for (;;) {
    const auto n = ::send(client.fd(), lines.data(), lines.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EAGAIN) {
      break;
    }
    ASSERT_GT(n, 0) << std::error_code(errno, std::generic_category()).message();
    written += static_cast<std::size_t>(n);
    ASSERT_LT(written, most) << "the relay never stopped reading the sender";
  }
  ::fcntl(client.fd(), F_SETFL, flags);
  const pid_t pid = relay.process().pid();
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WSTOPPED | WNOWAIT), 0);
  relay_stopped.set_value();
  upstream_gone.get_future().wait();
  ASSERT_EQ(::kill(pid, SIGCONT), 0);
  SmtpReply refusal;
  try {
    refusal = client.read_reply();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "the sender did not get upstream's refusal: " << e.what();
  }
  EXPECT_TRUE(client.wait_closed());
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U);
  EXPECT_EQ(refusal.code, 554) << refusal.raw << "\n" << boost::json::serialize(docs[0]);
  EXPECT_EQ(json_string(docs[0], "end.reason"), "upstream_closed");
  EXPECT_FALSE(closed_first(docs[0]));
}

// Upstream stops reading mid-DATA (a full disk, a hung content filter): the sender blocks
// because hopscope cannot pass its bytes on. The timeout must name upstream, not say that
// the sender owes the next data block: that would send the admin to the wrong hop.
TEST(RelayEnd, TimeoutWhileUpstreamStopsReadingNamesUpstream) {
  std::promise<void> done;
  ScriptedUpstream upstream([&](ScriptedConnection& c) {
    accept_envelope(c);
    done.get_future().wait();  // reads nothing more until the test is over
  });
  RelayProcess relay(
      {.upstream = upstream.address(), .extra_toml = "[relay.timeouts]\ndata_block = \"1s\"\n"});
  SmtpClient client(relay.host(), relay.port());
  (void)client.greet_and_ehlo();
  ASSERT_EQ(client.command("MAIL FROM:<a@example.test>").code, 250);
  ASSERT_EQ(client.command("RCPT TO:<u@contoso.test>").code, 250);
  ASSERT_EQ(client.command("DATA").code, 354);
  // Write until the relay stops taking bytes and then gives up on the session.
  const std::string lines(std::size_t{64} * 1024, 'x');
  std::size_t written = 0;
  for (;;) {
    pollfd p{client.fd(), POLLOUT, 0};
    if (::poll(&p, 1, 10000) <= 0) {
      break;  // nothing moved for 10 s: the relay is stuck (its timeout is 1 s)
    }
    const auto n = ::send(client.fd(), lines.data(), lines.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno != EAGAIN) {
      break;  // the relay closed the session
    }
    written += n > 0 ? static_cast<std::size_t>(n) : 0;
    ASSERT_LT(written, 512U << 20U) << "the relay never stopped reading the sender";
  }
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  done.set_value();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U);
  EXPECT_EQ(json_string(docs[0], "end.reason"), "timeout");
  EXPECT_EQ(json_string(docs[0], "end.detail"),
            "timed out waiting for upstream to accept the data the sender sent (upstream "
            "stopped reading)");
}

// RFC 2920 §3.1: the next MAIL/RCPT/DATA may follow the dot before its reply. The first
// message's final reply must not wipe what is known of the second when upstream goes away.
TEST(RelayEnd, UpstreamClosingInAPipelinedSecondMessageIsSaid) {
  ScriptedUpstream upstream([](ScriptedConnection& c) {
    c.say("220 scripted ESMTP\r\n");
    c.read_line();
    c.say("250-scripted\r\n250 PIPELINING\r\n");
    for (int i = 0; i < 3; ++i) {
      c.read_line();  // MAIL, RCPT, DATA
    }
    c.say("250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n");
    for (int i = 0; i < 5; ++i) {
      c.read_line();  // "one", ".", MAIL, RCPT, DATA
    }
    c.say("250 2.0.0 first queued\r\n250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n");
    c.read_line();  // the second message's first line
  });
  RelayProcess relay({.upstream = upstream.address()});
  {
    SmtpClient client(relay.host(), relay.port());
    (void)client.greet_and_ehlo();
    client.send("MAIL FROM:<a@example.test>\r\nRCPT TO:<u@contoso.test>\r\nDATA\r\n");
    EXPECT_EQ(client.read_reply().code, 250);
    EXPECT_EQ(client.read_reply().code, 250);
    EXPECT_EQ(client.read_reply().code, 354);
    client.send("one\r\n.\r\nMAIL FROM:<c@example.test>\r\nRCPT TO:<d@contoso.test>\r\nDATA\r\n");
    for (const int code : {250, 250, 250, 354}) {
      EXPECT_EQ(client.read_reply().code, code);
    }
    client.send("two line\r\n");
    EXPECT_TRUE(client.wait_closed());
  }
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U);
  EXPECT_EQ(json_string(docs[0], "end.reason"), "upstream_closed");
  EXPECT_EQ(json_string(docs[0], "end.detail"),
            "upstream closed the connection during DATA after 10 bytes of content from the "
            "sender, before the final dot");
}

}  // namespace
}  // namespace hopscope::test
