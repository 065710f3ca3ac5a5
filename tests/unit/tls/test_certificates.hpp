#pragma once
// Test-only helper: mints keys and X.509 certificates with the OpenSSL C API, so the
// certificate tests carry no binary fixtures and every field they assert is one they chose.
// Header-only (inline) because the test glob compiles only *_test.cpp files.
// Never used by production code.

#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace hopscope::tls::testing {

// Fixed instants (UTC) so every test is deterministic.
inline constexpr std::int64_t y2020 = 1577836800;     // 2020-01-01T00:00:00Z
inline constexpr std::int64_t y2021 = 1609459200;     // 2021-01-01T00:00:00Z
inline constexpr std::int64_t y2026 = 1767225600;     // 2026-01-01T00:00:00Z
inline constexpr std::int64_t mid_2026 = 1780315200;  // 2026-06-01T12:00:00Z: "now"
inline constexpr std::int64_t nov_2026 = 1795369500;  // 2026-11-22T17:45:00Z
inline constexpr std::int64_t y2027 = 1798761600;     // 2027-01-01T00:00:00Z
inline constexpr std::int64_t y2036 = 2082758400;     // 2036-01-01T00:00:00Z
inline constexpr std::int64_t y2040 = 2208988800;     // 2040-01-01T00:00:00Z

using Key = std::shared_ptr<EVP_PKEY>;
using Cert = std::shared_ptr<X509>;

// Test-only RSA keys, generated once with `openssl genpkey`: RSA generation cost ~1 s per
// test process (ctest runs every test in its own process). Never use them anywhere else.
inline constexpr std::string_view rsa_2048_keys = R"(-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCg4y0kWVp4U0hD
snoZIAdRWMaEFpuTY2ufGMlxAh4nEuSZZeElhQOgPKJwHsZEhGrA0812A3FP/D2q
hu8RTZXU0j2C2k6EOwOJPBpDNssvW+RbS1S60S8KwLpPKI1IgSZ0AOBmILhK9di5
Pcq5kfjF1luQdGhRl4EHUHg6Rid15MN0XI1s7TXasMGhOAa7v/WqB+LzNZ1haKYP
FHq85o/5J5aXNSVbAc2SuEQfSFHRc/SlY6UzQjPgVkWOnBduMfrZqrUKOoRaSiIO
3GyMjpUplBoUilQCH1SGo/Ra4vKY/nKwwQ4gbIuaVNaAzdq2g6+gTS7AO3sRP/gu
BKFqIQQrAgMBAAECggEAAk+lsO6NYCWv1X2w2Zr5m11BrMbuXJ7LkLE4ddtogJ6e
SXlBeCOmcWX2ua4pxvUMkmNmOHXExYEV0Ivcz0xABL96r947hDkKgxsFD9hmg1/u
1vstMCCuR3T6bwXPiJv0nuH6DhjxqDaT4GnpZQdRNGQML4h3+pZba0hWEcuow72e
RHKjNbuP6sQrAG1JTcJXIpaNvUTmQF+x3ABvl6PG4WShclozK16RyOqZqq7HCw1W
AUma3GbBLdvbEuVZyhWq6DWAx5miqwSMUDI8WSlnSWA/kdB1uuVRaf24ZwFFJ7nO
KTxVHLVY48W+Wk09lqMu+L6bNjqTa5uCiWs7OTHgMQKBgQDMvZG0ZBVlBU96RBOv
BVgLNHh5Db3Sm9GICanIr9lluuQgACpCL7ShzIiO62ul3l4GEHD80fFKoRsoy1AM
Cn1L5Rb3qzSE+WIB8ICxrNe+2vZMipg9KcHEwfy8VNsqNDiD/I/Fk3Zg6CT8XKuR
arywVQElsKhzcevf/GcT20lB/wKBgQDJKu5efSxdIuUcKO5rPXTNibCT0kJkQjmq
ktD5CtCAFk6AHLGXnOHzbkm7YUUCx41K3hX3x/naZWhjGqoZrufE5gO86nKyDSIc
f2dQSXHg+OQ/L/f2Y54yLhXnGlHb22IMpMCwTJWMNSlKtOjmlK1PLr4t0NsRwBhi
/j7TSdzl1QKBgFsmdoziFehQse6UClNcRLNQW+ZA6OavulwfOTiAmX/B8bgRer7W
sEtsXMuMIfPJiQCYJ0VXTl5UVVwXD/8cWGYGivAeh5Y/1JNaeGEhuzdcElVHSrnI
Ml0fpB5QhPZII3UXZwamPQitsXGs7DEkXPcAES+vc39aE5I3s8hSU04PAoGASjV8
GX8zjmgA/JJc4VKac/gHG4DE3RdRDot6a2SB5b5U1w2+tZ85+wMEUAth2dSjWqry
j6VFljsydtyvQyoydYAkgNw701Lk8n5NLmDpkYQ/LtATOOEmynwVuFsNN32GfgOI
0YBu6nnx8Y0rHWRbSoqDvYL+TV3/oQUJSAhHZMECgYBd3KLzyUQn06YUeoNKCc0/
0SHjj6DkJQNzvPKt+JF/E4KdNq+OeVOVf1H9byHnUtD5PBSGpWZbAb8d39ZasvoK
xjY5/klwB2Kum9KSI0SD7FaTEgTNvlNtg3pY+Yeym3+kBOUGbhkemY3TxryPgPTN
snJgXLUGJpp9qyM2mryDZQ==
-----END PRIVATE KEY-----
-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDT4fIgwW99pxr/
CCiN8fZVGnX0Sjor8uZ8MDItQ4L3nM7HQU8WJT32TtH8NhmiEVCXYkmXsUN/GsTY
uusEobyWPZauZwhW+3wvCBoEhbrrW2zJnjsp1YfukpQvEKUGK2HTpjwn+rFdQGkU
0A/7BWGJAoRxNmcj6ZAqxTi8zfw10dnY1rus3TuN6Jw1ki4fqksjfMIkodW0MuyZ
KX1MrxIfVn+50pS0gM9tEoiJLrVopshbxl/UCGlFbxCeMQdIVGh3pMN4D8jLZpqn
I10jdlIeY+cHlXz/4jzHUxVE/TuMVEbvCDMrzTPvxcHta8+CE//Ej4lGrBsSpF/O
rEr1q97bAgMBAAECggEAGk//jFHOpqwPONyqgfYqa9HSvs5OVbw0eKJY7jC+yEE7
l0MPrzsGFtsdo1SUmlZ2y6tJDa2Afv20CbYsuXExxPahCnIrzEwu1ShhvW4Ivcb8
xjeq4Txt771ZlFQHf7H41BqGHfDkAHtJ5sEakEcldaj6XuotT328iZM0beimtDLB
d8wrsa1VbLF6Z8NxcSC+qza+8g5mWzbyFH6MUpukOhNP3w4/ivEADzTv6hjSUNf2
osR5u9Vzmp5/a/7ApKIWGxmNdTDDoq6Nqvwvpj5wWEtIYx6Kbts2w5rNMSj8uJM9
2KwnWMT8KFTb1x1+j9Ry3apSmyKy1lrjzCgcdUQsAQKBgQDpF9f/hv5kFFf9i86C
7vfAgyMBzZIfZTOkLsxU2zYA6iecsRt64ZaM1IVrCON8BRtD70b+Ql28O05TdQvq
UJlyCzQHpLeuJv/r4HitFVSAQ7S81Ns3vH2uYqt7JEJT92uZ8uT5xvTojgin0vme
HdelJu5YPDkMFdEu6oBQL3xncQKBgQDotHzHn4wUuhpLVPIvEpmNRRZUBsnT3gM5
9sIfhALq8liDgTmpTd1//TeV+31UQwMP1FOJ0keMUwlwqww5C3CkpVJElqvfpoNb
xVmpRLbABxwvyNJWSezvZRvVeUe4j1/AEfebNdHushAt25QRxPAbTd1okKhNRuDL
rcdjicW9CwKBgF3K9WRh6o1Uzk886X0wMUsquXRpRsoRS+Vd22StzJ4zmnrnnTol
+hFzFriKHBd0apM8fiGjjNpINu1IJOJFSmlkbqxAsJSIJuTAL27eLWFrXRe6wvc7
hoscMwpa/cGRxp9s6IxFbZkCRiNZto3UTkirUK76lK3zPXgWbklVwkZRAoGAKSG9
7IsG96LtguNA65EeExpjF/cbNZfIejZjma571YuAmb39sy9QN49Kg/gv7vTpVaLy
ISpJ+0OyJ3gUcQDUqEWQhQ8c0itcjJwVfRXoN4kKMmgMxbPLbYUxpkoJo1W0Vv7W
BVk+AjL3KSPmyD1HM4xP1mu7U+1zTo0o8S8pBIECgYBPl+B//P2gSKIlviFKpIFn
DVvTx+rR/3+mpFZhno2TWtzDKsUNPfSca9kVasERJm3c7Xvtj1L2BLyi3bnWzZO0
Pksbns2y2Ns/ssnuz7CQPnmFdJai74TYlAiUZPuXRp4vTIOed+B+/+jVTiTWky01
Y+stIKrEeXpKHzA40NyFnw==
-----END PRIVATE KEY-----
-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCTcAKMH2uNImp8
SyShsg7/yNngMwCz3x/+C4JVBILxkbAi1UoZf6DhHEMTSxKcnP1zGSriV8Gq/4aD
5fq8EB4Eatm5tng/XisiO8DJiabByLP+utB27gf+FCpsK6qHSwJKNNrb0r/k+xPe
4KhrCBoxG0ZyCF78QcPRG4bD52oiAKmj+PEwsFofH/soDcbJaMR6g1B4SMBCtff5
tYlOV6C4xNlXa36watOfOqUdfMqrwA/VVON61gKUYmjOjKlFOLlzJ4mLDzk5Cewg
VSroP+9reu+jPBZOyhKna36WiNANoZ4VTb+mXIDj29h3maSp9zNgWVcdZrXrlm12
fynl+CxhAgMBAAECggEACGDd4DEb50gMpZYOlZq9A/eZvAYh9NbJ5mGojSTFvS0S
hZQ50wOf9JLq0+KZAunf9EW6nGSwxoMhVYcA7eV7kzQwPb+7CxzSli4vmTRXk90Q
L3pVxOBnd16Vf5KmrOwMDAP/aO0LxxsmiKybHYP3GxHJ+cp0fWDOXCh0itbwftCV
OxdIPZk9JfbavQ6fTNzD9bTEGgKEawLNtKvyqTsE2u+3fCQZp5hPInQZQYBLwFLL
VOJaTrzmXHxEGUBB6U9Zz9BjMdxEGUtzrF/gci2yPbQyAE+NqY4qY+JUgT/7YJQM
qEpp9cHRdVCPsSEYPCR5Xp1zL8vN5IGkK+DqJIBxQQKBgQDJTsdXZA8MWyTgxq35
zeEppT5RU1WaysXD2gzXSNVSz+rABL8/agcj1zdVI70vcKACWFzyZM92/laE+B/K
BmhPKt1lte8AVbCPQmr091/GDsbam+nB0dQO5/YiXRXEUZa6WdadHHnYcDmlYpzG
ZnWHlx4w9j7zcNxs8aLCI0/K0QKBgQC7fnzUY9tI+WhmmbcTAtiKJhLQPt+PkJDd
iCX7rg+gCcXX9lVxu6AtluIUfhnpYO2oFhsJbjP5hjpRMxyxxSVVW3ift4lcXsh2
veEUr05shtPTR5aoerRWrXw941IcfEZ4RTZ4DhFisKNIHr8DQ18yoMYILuOXokQj
KXMl1ByMkQKBgQDHv1CTSWiZJRM5qkrU9VF3Zkyom5z0pEGJ7aISOGXb7w0LDWrL
PKTrDlEMPRMqsIFE8nL/3cHyW7pz5FR+vM7hxzG6C8WkOmKgNBI3EgLJXr44Cr7v
IApf5BDZ1i2UCDUcoaoPaUMJ3YmFrozLXL1AFlXR1XVvT0yZGUcbhbhWEQKBgQC4
eFqZHSZDRiBR0istqT8jrRIVkcajmbjuPWYhmcAF1ZeyQ8sNe2y9bhZB00/rLlKl
bhprzOGWP1phSciRn0Z8FOM5QXsERr01Fty9XT3ryTvgRC8W1KNaJJZ4zY+cNyme
a3qL5Et2rhP4gUeuDjs7tLMimf+S0TP45G9GaMsuAQKBgB+pAfeyUJtEbWTTbbms
Tb4kqBLaM/YwrvFZz8d3uzUAq1FU/z0b96bSsNbVTwZH87NmZY/dojKgR/P88rtN
QSSAnFI0fe4u4ubEnsCCnYClonHXQTd8ykWuQfu7GGv07PA4fjA892u55lm3ogeG
Ih9ENtFSxui9PrM6dwt+Dceg
-----END PRIVATE KEY-----
-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDCJJEAt6rtpHML
fiqPiKWW2jtCQFn7bmC4BJTCED6LBrZeI/eWGSWBIvbnx387bbwRTBWN2btefKNs
AjWWcApP6ZIZWcWCTA0cxKcJ45PgJiAYlmFjYLoR1JspjWpTHizoHcHwSKxMODgJ
gOAQ9G3UJkCW9Ks5HsCJBfEpIH4i/QFtLznhqFKeOR+ti3NpRblAYEi7jYU9MWan
sGJVZN3+MozytXxuMf4e+S6P/GdEaFHuPgTHWQdP91dTH+qXzRelLrjYIsM4tdb/
0RE6bMK6jtcR4hAmqbwfZhdWM34I4fs6KJh2JC7LTB5DjQ72K/20XloJxd3H3sIG
a5ZjZ0khAgMBAAECggEAHQBVYOQO9p0ASpE4TmS9R8Gl5Im0Z2jfrd2RU0QV87K2
/20kCRoMjjPo6krU6M3FsFfLSHtkEANSbkoOM0DdaX6cwoi0hnhR5SBDS6jhaDSJ
yuJ7/dpvMUavPw/O+EejsbDwTbKtel1Tkafc0OuSlIR6VZKLGWdMn6txkRE3hoY+
T5lQ73B7wC6scoczbtBp/DK7/dl7tv8P081YuMqDrHFHo/iKs7GNvymrMkX3/UDY
yeDhsZAKBCxDouVF2M4rdU338k1DlD6kijig5rQwu4ReZqmq9CM7dQNlSk742Abn
mwQdXpnlVK/sGb9hHXTEJABx/C/NIPVXSeq8w1ZB2QKBgQDnTVc3ciCii5SYt/Cj
aPe06jlBWwbl7pQvFJuwAre6iLbF7zGrQixULD99zUBGHgaxhCjfIVo4HxC+9J9z
j6c5aIjSoBMr/C05e8LCYKz7dfDi6xCd4b5eqTK3eYR+MIqL9cONzJ6x+ogAZ2OF
SMmjUR4OGoHsbbIzMi74Twd5mwKBgQDW33lwtoOT0HlqvTyFDrDW+lmmCONBADLf
iLHxmao//R7J9kdXuq9i6Irfx0Ed+uZOZEk/ULQw04qAwJbvDeZ5ySLcA4WUKejg
OdBo6Z6IDA3FAQE0Z8wnU5v2ioQjEWfQSFMKfJBrb+3h4e29AygNEh8JB1QEKOWV
LTIJFHPB8wKBgHwaIBCMuHvd/kWOc5uJp1Y3Ua8CQwo9Xt5/5SSj4KZB0icTNogX
wicLcqlx5el5FMhMC43knD5+VILQR3k+e0+vCbJQ1tiDvlQYVh/qtQVae3uU+d5s
D7NEfwS4O2FldACyRVEgl4kQzcXBs0EBE8b/r+uLR2huVu1nIJJz/KO/AoGAIQJr
0Zj4VbjtLiysI3TCTgRfyVYMM2woZJbHX2pP8UydckFXbG7NitBWpVIi+swUnW5i
oktvoyCcYnMzvL3R7lur80jHOJ/HmsrG7ZcWN6hCZUVmPfrELjZ1+0YETq7Z1/GE
cFP6i8bCMLVYpHTbrkZeZjCuA4WU33n1+dcegWkCgYB5GKQxF6ZEUY3zfjwpXrVG
HYHyfPAWuBeC0LJ7SD3E2diV9UaszsHrSz/TCXTx/dXS/LUTuTyH0gaoKH8fCDlG
evBHvA1lK5ZaBgFHARLP1G67oyYvn938/3lzqKFuFhFEtYYW9r/cpwvunGVG6q9K
NH9U0BTbMOkLXGiF8378PQ==
-----END PRIVATE KEY-----
-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDkYzaSCtrr8O+p
l+Z6aizRnqIvEr48ys8fbzXket/X4BQXhD51apBtlAh/7lPFUdClou0p0fzonr2M
J1M86HL3JX7P7rDXCypUDfc2lckpGq680OIX81PM/NDB9hkV/C6w4urgoe661rxI
KNeKbnIq2l30/s8QFXrgzX82uerWQcdHjulCLZlZIuhCqrd5gw/4KFQWebFOAUHE
Tgv7QKUNKRxY1cO91n0KO9AEBtVHayz01X58BQVem/IjJt3hPVs+RQ1qWUConO2g
rRPWPUhe5ZNZnIZhjDlLVKJhS8dw1yGigJosS6GToh3PXRuhM9cSPALQHy7DzsuG
Du3MZP/tAgMBAAECggEAEA53ljHkLUVNnCc9QWr4hq436cZQEJcTk7quV8dZuGQd
FYArIfche0q2hEP9qLg1SofXU6LbPIF4gwN6wyP2fTCqJzU5Qo0a5zjqIfDK6TRi
h4zJ8HQfdqBpjtFd9yE5KR9y8uL/lSwmpY4VhTp5lVCv3VsStKdF8csQwAi3HWP1
fkuq31o573XC5WT3sjysIsfGNPOm47O4mA0scgk5mCi+iFM/V3lajD2IDWq8sGyN
e4H0JWWSvmvb41Wpe8hfQQxnHLH2ZlGCrC/bpf4uROewIZ7ZkpfigXPwpp4MDnes
gr8p7uEZba7EIRkmXtVG6b1WdPZGww6Zx7MgY2aKgQKBgQDyepisqO1NjqngZYUj
L1R3RE+oUOhXO2DzKBMAs5juFhLo7uFRLsno4dfPZCzHnfibwu3CIt92/4Sw8Raj
tuG1TudTFgTgIWH+fi+mW/h6BxX3bKM1xhxOvplFDK2P+aXkXWDTF7HQwjW2Hr6j
IXwrK4WBP6PEg4uT2jPA2TjQQQKBgQDxH3Y9w6q8boHmmgIZIEu+4D69AtUP/U/r
uSnR9NvhOeiS+dgEuqBX85pMMOgwGeQHdFUn3kKUSf/fs7asCsBhGUA3OfYjrDYg
6C0memrLq9mp6Pl4iAVQ2P5BRMy9ZV8+26F55y1s/GrU/LHyX8oFWr1GEa12raSn
XHa+Pe9ErQKBgEQA9giWZ9c0h5gTYL95aqr4UY7XAhJU6N/JAWtU8zLypeMF+9MU
2DOkAy563cQuHacxiBTGSv3Is6IcO0k25R5APsgiiMODGUSShzKU4J74lcSKh0tx
gEblVX70C0kxrsDZH2qUXp45mW62OKjvny9MSWjyPC/E5MRWkeUoBrMBAoGATLYH
tiqz/PLjXOwOUtQVhQpuq09lXYrnjEUCawuNkKANwATAlvCQ5qpXonnExNjX1Q9L
sD1jzS2lvBO+wAlDnyCbb3Z/OmYlal6zTpSPuXBY9VdrVs9fcZM3gKhUwsSngqX5
P4Eu0IeVrWEfc87JxN5TbSFeoG0p/xzJokiuAJkCgYEA1vioNq6BCPmmCNrYXlJ4
LrG2pjN0zZ7rkflt42hb14uAGKMw8aINwu/PfIJaejYbabGy2Gx6tD0ieuO98bif
hHe5xIXYFoKKNRkJe2ubC+MCUeBtePK8MWL2+U3nQx4arTxuJvHr/tDF3i7ahVWd
WQBN2yeNNGLblb6wNSyDHMY=
-----END PRIVATE KEY-----
)";
inline constexpr std::string_view rsa_1024_keys = R"(-----BEGIN PRIVATE KEY-----
MIICdwIBADANBgkqhkiG9w0BAQEFAASCAmEwggJdAgEAAoGBAN9mTyujl8PGfkk9
NYEsFZ/bJ5wfFHSa3CWgcj7ZMy4kQimQnhm6n/aM8+L7SWISW1NTPZz5tHlj535H
5Ra4pSbgkn4RM3nrm4CMymEgjublHTD9COPWOjduFY2Xxwt6pICLlyf5IdzwHPUY
ouiwS3CfdGSU9gRPQJSpAWq0capPAgMBAAECgYBqHVTZ67k5G139N//kPaZ/6j+k
Xvb+dFjB3ralt9IhxsNOrw0KN6WoHUfzt10iIooSyGVp3Qqm5pedWlUtN8PqEhZ4
WFsxMgEoZ0T6162+BReE33Zfa5MMg507329LiNYiqNhmfIixo1PnVOPVXA5JvDSe
BV86TKCiU/XKAeTzMQJBAPyWZEBP59qV0YgH7+YHDmUVHJB79edvmZ84Fd/W+k2Z
KmMU0uqjoDEHGdXj3ZF/4wPia3eCi8NZerso/chhfc0CQQDiaveyoUaY2zruWN34
yVtyDiYplXmFLi/SCp6LdH3bkVolltjsF6erUdV2/ULPr+x0UwtfGQwP7s6hDXv5
T8yLAkEAouvefh0MT9GS9UspUhX7EvgrFIbgdgdl720druPbT3IcBQzJfs9L5FPQ
NkZkBBWZOEgzSULLI5XztAUcrMM1gQJBAN0R3jnumBSlcXvJDypbyEqrn/1YMeek
ehKWRckZ+80HtcIf8DtMuWxgIZHlpHdOaQwHDYJT3WAtJlk/5j09+hMCQGj10hN2
egFTDz/fJg9XGup6t8I7fslAlrZthbJhxw8bk/2Q2QiziSpBOewtpfQtXWYrzNSm
H1N9kdiF1p91b9I=
-----END PRIVATE KEY-----
)";

inline std::vector<Key> load_keys(std::string_view pem) {
  std::vector<Key> keys;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (EVP_PKEY* loaded = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr)) {
    keys.emplace_back(loaded, EVP_PKEY_free);
  }
  ERR_clear_error();  // the loop ends on "no start line"
  BIO_free(bio);
  return keys;
}

// "RSA-2048", "RSA-1024", "EC-P256", "ED25519"; anything after '#' makes a distinct key of
// the same kind ("RSA-2048#impostor"). The same name always gives the same key (cached).
// Not thread-safe: mint keys before starting threads.
inline Key key(const std::string& name) {
  static std::map<std::string, Key> cache;
  if (auto found = cache.find(name); found != cache.end()) {
    return found->second;
  }
  const std::string kind = name.substr(0, name.find('#'));
  static const std::vector<Key> pool_2048 = load_keys(rsa_2048_keys);
  static const std::vector<Key> pool_1024 = load_keys(rsa_1024_keys);
  static std::map<std::string, std::size_t> taken;
  const std::vector<Key>* pool = kind == "RSA-2048"   ? &pool_2048
                                 : kind == "RSA-1024" ? &pool_1024
                                                      : nullptr;
  Key made;
  if (pool != nullptr && taken[kind] < pool->size()) {
    made = (*pool)[taken[kind]++];
  } else {
    EVP_PKEY* raw = nullptr;
    if (kind == "RSA-2048") {
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048});
    } else if (kind == "RSA-1024") {
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{1024});
    } else if (kind == "EC-P256") {
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    } else if (kind == "ED25519") {
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    }
    if (raw == nullptr) {
      throw std::runtime_error("cannot generate key " + name);
    }
    made = Key(raw, EVP_PKEY_free);
  }
  cache.emplace(name, made);
  return made;
}

// Attributes in DER order; a type starting with '+' joins the previous RDN (multi-valued).
using Name = std::vector<std::pair<std::string, std::string>>;

struct CertSpec {
  Name subject{};
  std::int64_t not_before = y2026;
  std::int64_t not_after = nov_2026;
  std::vector<std::string> san{};  // OpenSSL config syntax: "DNS:mail.contoso.com", "IP:192.0.2.1"
  bool ca = false;
  std::string eku{};  // e.g. "emailProtection"; empty: no EKU extension
  std::string serial_hex = "1000";
  std::string key = "RSA-2048";         // see key()
  const EVP_MD* digest = EVP_sha256();  // nullptr for Ed25519
  std::optional<Name> issuer_name{};    // override the issuer name (forgery tests)
};

struct Issued {
  Cert cert;
  Key key;
  std::string der;
};

inline void fill_name(X509_NAME* name, const Name& attributes) {
  for (const auto& [type, value] : attributes) {
    const bool joins = !type.empty() && type[0] == '+';
    const std::string field = joins ? type.substr(1) : type;
    if (X509_NAME_add_entry_by_txt(name, field.c_str(), MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                   joins ? -1 : 0) != 1) {
      throw std::runtime_error("bad name attribute " + field);
    }
  }
}

inline void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  if (extension == nullptr || X509_add_ext(cert, extension, -1) != 1) {
    throw std::runtime_error("bad extension " + value);
  }
  X509_EXTENSION_free(extension);
}

inline std::string to_der(X509* cert) {
  unsigned char* der = nullptr;
  const int length = i2d_X509(cert, &der);
  if (length <= 0) {
    throw std::runtime_error("i2d_X509 failed");
  }
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length));
  OPENSSL_free(der);
  return out;
}

// Issues `spec`, signed by `issuer` (nullptr: self-signed with its own key).
inline Issued issue(const CertSpec& spec, const Issued* issuer = nullptr) {
  Cert cert(X509_new(), X509_free);
  const Key own_key = key(spec.key);
  X509_set_version(cert.get(), X509_VERSION_3);
  BIGNUM* serial = nullptr;
  BN_hex2bn(&serial, spec.serial_hex.c_str());
  BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get()));
  BN_free(serial);
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(spec.not_before));
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(spec.not_after));
  fill_name(X509_get_subject_name(cert.get()), spec.subject);
  if (spec.issuer_name) {
    X509_NAME* name = X509_NAME_new();
    fill_name(name, *spec.issuer_name);
    X509_set_issuer_name(cert.get(), name);
    X509_NAME_free(name);
  } else if (issuer != nullptr) {
    X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer->cert.get()));
  } else {
    X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  }
  X509_set_pubkey(cert.get(), own_key.get());

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer->cert.get() : cert.get(), cert.get(), nullptr,
                 nullptr, 0);
  if (spec.ca) {
    add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
  }
  add_extension(cert.get(), &ctx, NID_subject_key_identifier, "hash");
  if (issuer != nullptr) {
    add_extension(cert.get(), &ctx, NID_authority_key_identifier, "keyid");
  }
  if (!spec.san.empty()) {
    std::string list;
    for (const auto& entry : spec.san) {
      list += (list.empty() ? "" : ",") + entry;
    }
    add_extension(cert.get(), &ctx, NID_subject_alt_name, list);
  }
  if (!spec.eku.empty()) {
    add_extension(cert.get(), &ctx, NID_ext_key_usage, spec.eku);
  }
  const Key signing_key = issuer != nullptr ? issuer->key : own_key;
  if (X509_sign(cert.get(), signing_key.get(), spec.digest) <= 0) {
    throw std::runtime_error("X509_sign failed");
  }
  std::string der = to_der(cert.get());
  return {cert, own_key, std::move(der)};
}

inline std::string pem(const Issued& issued) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, issued.cert.get());
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(length));
  BIO_free(bio);
  return out;
}

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::random_device seed;
    path_ = std::filesystem::temp_directory_path() /
            ("hopscope-x509-" + std::to_string(seed()) + "-" + std::to_string(seed()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&&) = delete;
  TempDir& operator=(TempDir&&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

  std::string write(const std::string& name, const std::string& content) const {
    const auto file = path_ / name;
    std::ofstream(file, std::ios::binary) << content;
    return file.string();
  }

 private:
  std::filesystem::path path_;
};

// root CA → intermediate CA → leaf "mail.contoso.com", valid at mid_2026.
struct Pki {
  Issued root;
  Issued intermediate;
  Issued leaf;
};

inline Name contoso(const std::string& cn) {
  return {{"C", "US"}, {"O", "Contoso"}, {"CN", cn}};
}

inline const Pki& contoso_pki() {
  static const Pki pki = [] {
    Pki made;
    made.root = issue({.subject = contoso("Contoso Root CA"),
                       .not_before = y2020,
                       .not_after = y2040,
                       .ca = true,
                       .serial_hex = "01",
                       .key = "RSA-2048#root"});
    made.intermediate = issue({.subject = contoso("Contoso Issuing CA"),
                               .not_before = y2021,
                               .not_after = y2036,
                               .ca = true,
                               .serial_hex = "02",
                               .key = "EC-P256#intermediate"},
                              &made.root);
    made.leaf = issue({.subject = contoso("mail.contoso.com"),
                       .san = {"DNS:mail.contoso.com", "DNS:autodiscover.contoso.com"},
                       .serial_hex = "1A2B3C4D5E",
                       .key = "RSA-2048#leaf"},
                      &made.intermediate);
    return made;
  }();
  return pki;
}

}  // namespace hopscope::tls::testing
