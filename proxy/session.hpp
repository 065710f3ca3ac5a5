#pragma once
// One relayed SMTP session (DESIGN.md §2 passthrough): owns the sender's socket and the
// upstream socket on one io_context thread, relays bytes unmodified in both directions, lets
// the SMTP codec and the TLS observer watch copies, and hands the facts to the audit pipeline
// when it ends. Completion handlers on the common path, coroutines for the rare ones (see
// session.cpp). Never throws; every wait has a deadline (FactsRecorder::deadline()).

#include <memory>
#include <string>

#include "proxy/io_types.hpp"

namespace hopscope {

struct RelayContext;

// Relays the session on the socket's executor until both sides are done, the deadline
// passes, or shutdown closes it; returns at once. `peer` is the sender's address as
// accept(2) gave it, `listener` the listening socket's address (a wildcard address: the
// session asks its socket which local address it got); the place taken for `client_ip` in
// context->limits is released when the session ends.
void start_session(io::Socket client, const boost::asio::ip::tcp::endpoint& peer,
                   const boost::asio::ip::tcp::endpoint& listener, std::string client_ip,
                   std::shared_ptr<RelayContext> context);

// Answers "421 4.3.2 <reason>" and closes: a session over max_sessions or
// max_sessions_per_client. Recorded with end.reason "limit".
io::Awaitable<void> refuse_session(io::Socket client, boost::asio::ip::tcp::endpoint peer,
                                   boost::asio::ip::tcp::endpoint listener,
                                   std::shared_ptr<RelayContext> context, std::string reason);

}  // namespace hopscope
