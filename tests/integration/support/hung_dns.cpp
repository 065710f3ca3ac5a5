// LD_PRELOAD shim for the relay under test: getaddrinfo(3) for a name under "hang.test" blocks
// as a lookup does when the DNS server never answers (until the resolver gives up), then fails
// with EAI_AGAIN. A name under "multi.test" resolves to the IPv4 loopback addresses listed in
// HOPSCOPE_TEST_ADDRESSES ("127.0.0.1,127.0.0.2"), in that order, with the requested numeric
// port: a host name with several addresses, tried in turn. Any address outside 127.0.0.0/8,
// an empty list or a port that is not a number fails the lookup (EAI_NONAME, EAI_SERVICE).
// Every other name goes to the C library. Test support only.
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace {

// glibc's default: 5 s per attempt, 2 attempts (resolv.conf(5)); shorter keeps tests quick.
constexpr auto hung_lookup = std::chrono::seconds(8);

using GetAddrInfo = int (*)(const char*, const char*, const addrinfo*, addrinfo**);

GetAddrInfo real_getaddrinfo() {
  static const GetAddrInfo real = [] {
    GetAddrInfo fn = nullptr;
    void* symbol = ::dlsym(RTLD_NEXT, "getaddrinfo");
    std::memcpy(&fn, &symbol, sizeof fn);  // POSIX: a function's address as void*
    return fn;
  }();
  return real;
}

// The loopback addresses of HOPSCOPE_TEST_ADDRESSES, in order (network byte order); empty
// when the variable is missing or names anything but a 127.0.0.0/8 address.
std::vector<in_addr> listed_addresses() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): the relay never changes its environment
  const char* listed = std::getenv("HOPSCOPE_TEST_ADDRESSES");
  std::vector<in_addr> out;
  if (listed == nullptr) {
    return out;
  }
  std::string_view rest(listed);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string one(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    in_addr address{};
    if (::inet_pton(AF_INET, one.c_str(), &address) != 1 ||
        (ntohl(address.s_addr) >> 24U) != 127U) {
      return {};  // loopback only: a test never reaches beyond this host
    }
    out.push_back(address);
  }
  return out;
}

// One node laid out as glibc's own (the sockaddr in the same allocation, from malloc), so
// glibc's freeaddrinfo(3), which free(3)s each node and its ai_canonname, frees it.
// NOLINTBEGIN(cppcoreguidelines-owning-memory): the caller's freeaddrinfo(3) owns the node
addrinfo* loopback_node(in_addr address, std::uint16_t port, int socktype, int protocol) {
  void* block = std::malloc(sizeof(addrinfo) + sizeof(sockaddr_in));
  if (block == nullptr) {
    return nullptr;
  }
  auto* node = new (block) addrinfo{};
  auto* sin = new (static_cast<unsigned char*>(block) + sizeof(addrinfo)) sockaddr_in{};
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  sin->sin_addr = address;
  node->ai_family = AF_INET;
  node->ai_socktype = socktype;
  node->ai_protocol = protocol;
  node->ai_addrlen = sizeof(sockaddr_in);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): addrinfo holds a sockaddr*
  node->ai_addr = reinterpret_cast<sockaddr*>(sin);
  return node;
}
// NOLINTEND(cppcoreguidelines-owning-memory)

int resolve_listed(const char* service, const addrinfo* hints, addrinfo** res) {
  if (hints != nullptr && hints->ai_family != AF_UNSPEC && hints->ai_family != AF_INET) {
    return EAI_FAMILY;
  }
  std::uint16_t port = 0;
  if (service != nullptr) {
    const std::string_view text(service);
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
    if (ec != std::errc() || end != text.data() + text.size()) {
      return EAI_SERVICE;
    }
  }
  const auto addresses = listed_addresses();
  if (addresses.empty()) {
    return EAI_NONAME;
  }
  const int socktype =
      hints != nullptr && hints->ai_socktype != 0 ? hints->ai_socktype : SOCK_STREAM;
  const int protocol = socktype == SOCK_DGRAM ? IPPROTO_UDP : IPPROTO_TCP;
  addrinfo* head = nullptr;
  addrinfo** next = &head;
  for (const auto& address : addresses) {
    *next = loopback_node(address, port, socktype, protocol);
    if (*next == nullptr) {
      ::freeaddrinfo(head);
      return EAI_MEMORY;
    }
    next = &(*next)->ai_next;
  }
  *res = head;
  return 0;
}

}  // namespace

extern "C" int getaddrinfo(const char* node, const char* service, const addrinfo* hints,
                           addrinfo** res) {
  if (node != nullptr && std::string_view(node).ends_with(".hang.test")) {
    std::this_thread::sleep_for(hung_lookup);
    return EAI_AGAIN;
  }
  if (node != nullptr && std::string_view(node).ends_with(".multi.test")) {
    return resolve_listed(service, hints, res);
  }
  return real_getaddrinfo()(node, service, hints, res);
}
