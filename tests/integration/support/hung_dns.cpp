// LD_PRELOAD shim for the relay under test: getaddrinfo(3) for a name under "hang.test" blocks
// as a lookup does when the DNS server never answers (until the resolver gives up), then fails
// with EAI_AGAIN. Every other name goes to the C library. Test support only.
#include <chrono>
#include <cstring>
#include <string_view>
#include <thread>

#include <dlfcn.h>
#include <netdb.h>

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

}  // namespace

extern "C" int getaddrinfo(const char* node, const char* service, const addrinfo* hints,
                           addrinfo** res) {
  if (node != nullptr && std::string_view(node).ends_with(".hang.test")) {
    std::this_thread::sleep_for(hung_lookup);
    return EAI_AGAIN;
  }
  return real_getaddrinfo()(node, service, hints, res);
}
