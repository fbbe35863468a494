#include "keyset.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>

#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "opay.h"
#include "test_util.h"

namespace opay {
namespace {

using test::TestKey;

const TestKey& key1() {
    static const TestKey k("k1");
    return k;
}

const TestKey& key2() {
    static const TestKey k("k2");
    return k;
}

// An answer with STATUS and BODY.
HttpAnswer answer(int status, std::string body) {
    HttpAnswer a;
    a.status = status;
    a.body = std::move(body);
    return a;
}

// A JWKS document of the keys given as JWK text.
std::string jwks(const std::vector<std::string>& jwk) {
    std::string out = "{\"keys\":[";
    for (const auto& k : jwk) out += (out.back() == '[' ? "" : ",") + k;
    return out + "]}";
}

// What the client says when no answer came: the kind, and the text.
HttpAnswer no_answer(opay_key_result_e kind, const std::string& detail) {
    return {0, "", kind, failure_text(kind, detail)};
}

// An HTTP server in a map: URL to answer; every GET is counted.
struct FakeServer {
    std::map<std::string, HttpAnswer> answers;
    std::vector<std::string> asked;

    Fetcher fetcher() {
        return [this](const std::string& url) {
            asked.push_back(url);
            auto it = answers.find(url);
            if (it == answers.end()) return no_answer(OPAY_KEY_DNS, "no host");
            return it->second;
        };
    }
};

std::string temp_path(const std::string& name) {
    return testing::TempDir() + "opay-keyset-" + std::to_string(getpid()) +
           "-" + name;
}

std::vector<uid_t> owners() { return {geteuid()}; }

const char kJwksUrl[] = "https://login.example.com/keys";
const char kMetaUrl[] = "https://login.example.com/.well-known/openid-configuration";

TEST(KeyUrl, HttpsOrLoopbackHttpOnly) {
    EXPECT_FALSE(url_problem("https://login.microsoftonline.com/keys"));
    EXPECT_FALSE(url_problem("http://127.0.0.1:8081/keys"));
    EXPECT_FALSE(url_problem("http://[::1]:8081/keys"));
    EXPECT_FALSE(url_problem("http://localhost/keys"));
    EXPECT_TRUE(url_problem("http://login.example.com/keys"));
    EXPECT_TRUE(url_problem("http://127.0.0.1.evil.com/keys"));
    EXPECT_TRUE(url_problem("http://user@evil.com/?127.0.0.1"));
    EXPECT_TRUE(url_problem("ftp://127.0.0.1/keys"));
    EXPECT_TRUE(url_problem("https:///keys"));
}

TEST(KeyFetch, FetchesAndChecksTheJwks) {
    FakeServer server;
    server.answers[kJwksUrl] = answer(200, "{\"keys\":[" + key1().jwk() + "," +
                                         key2().jwk() + "]}");
    KeySource source;
    source.jwks_url = kJwksUrl;
    Fetched f = fetch_keys(source, server.fetcher(), 1000);
    ASSERT_TRUE(f.ok()) << f.error;
    EXPECT_EQ(f.kids, "k1,k2");
    EXPECT_EQ(f.url, kJwksUrl);
    EXPECT_EQ(f.fetched_at, 1000);
    EXPECT_EQ(server.asked.size(), 1u);
}

TEST(KeyFetch, FollowsOpenIdMetadataToJwksUri) {
    FakeServer server;
    server.answers[kMetaUrl] = answer(
        200,
        std::string("{\"issuer\":\"x\",\"jwks_uri\":\"") + kJwksUrl + "\"}");
    server.answers[kJwksUrl] = answer(200, key1().jwks());
    KeySource source;
    source.openid_url = kMetaUrl;
    Fetched f = fetch_keys(source, server.fetcher(), 0);
    ASSERT_TRUE(f.ok()) << f.error;
    EXPECT_EQ(f.url, kJwksUrl);
    EXPECT_EQ(server.asked, (std::vector<std::string>{kMetaUrl, kJwksUrl}));
}

TEST(KeyFetch, RefusesAPlainHttpJwksUriInMetadata) {
    FakeServer server;
    server.answers[kMetaUrl] = answer(
        200, "{\"jwks_uri\":\"http://login.example.com/keys\"}");
    KeySource source;
    source.openid_url = kMetaUrl;
    Fetched f = fetch_keys(source, server.fetcher(), 0);
    EXPECT_FALSE(f.ok());
    EXPECT_EQ(f.error.rfind("parse: jwks_uri", 0), 0u) << f.error;
    EXPECT_EQ(server.asked.size(), 1u);
}

// An https document may not aim the worker at a service on the machine;
// loopback http is for a loopback http test issuer only.
TEST(KeyFetch, RefusesALoopbackHttpJwksUriFromAnHttpsDocument) {
    FakeServer server;
    server.answers[kMetaUrl] = answer(
        200, "{\"jwks_uri\":\"http://127.0.0.1:9/internal/admin?x=1\"}");
    KeySource source;
    source.openid_url = kMetaUrl;
    Fetched f = fetch_keys(source, server.fetcher(), 0);
    EXPECT_FALSE(f.ok());
    EXPECT_EQ(f.error, "parse: jwks_uri: must be https://");
    EXPECT_EQ(server.asked.size(), 1u);

    EXPECT_TRUE(jwks_uri_problem("http://127.0.0.1:9/k", kMetaUrl));
    EXPECT_FALSE(jwks_uri_problem("https://127.0.0.1:9/k", kMetaUrl));
    EXPECT_FALSE(jwks_uri_problem("http://127.0.0.1:9/k",
                                  "http://localhost:8/openid"));
    EXPECT_TRUE(jwks_uri_problem("http://10.0.0.1:9/k",
                                 "http://localhost:8/openid"));
    EXPECT_TRUE(jwks_uri_problem("ftp://127.0.0.1/k",
                                 "http://localhost:8/openid"));
}

// Every way a fetch fails has its kind, set where the failure is seen (no
// text is parsed for it), and a log text that starts with the kind's name.
TEST(KeyFetch, EachFailureHasItsKind) {
    struct Case {
        std::optional<HttpAnswer> meta;  // none: a JWKS URL alone
        HttpAnswer jwks;
        opay_key_result_e kind;
        std::string text;  // what the error starts with
    } cases[] = {
        // the JWKS URL alone: what the client saw, passed on
        {{}, no_answer(OPAY_KEY_DNS, "no such host"), OPAY_KEY_DNS,
         "dns: no such host (JWKS)"},
        {{}, no_answer(OPAY_KEY_CONNECT, "refused"), OPAY_KEY_CONNECT,
         "connect: refused (JWKS)"},
        {{}, no_answer(OPAY_KEY_TLS, "certificate verify failed"),
         OPAY_KEY_TLS, "tls: certificate verify failed (JWKS)"},
        {{}, no_answer(OPAY_KEY_TIMEOUT, "after 5000 ms"), OPAY_KEY_TIMEOUT,
         "timeout: after 5000 ms (JWKS)"},
        {{}, no_answer(OPAY_KEY_REDIRECT, "to http"), OPAY_KEY_REDIRECT,
         "redirect: to http (JWKS)"},
        {{}, no_answer(OPAY_KEY_SIZE, "over opay_jwks_max_size"),
         OPAY_KEY_SIZE, "size: over opay_jwks_max_size (JWKS)"},
        {{}, no_answer(OPAY_KEY_HTTP, "cannot start libcurl"), OPAY_KEY_HTTP,
         "http: cannot start libcurl (JWKS)"},
        // a client that names no kind is still a failure
        {{}, {0, "", OPAY_KEY_OK, "?"}, OPAY_KEY_OTHER, "? (JWKS)"},
        // the JWKS' own answer
        {{}, answer(404, "nope"), OPAY_KEY_HTTP, "http: status 404 (JWKS)"},
        {{}, answer(200, std::string(5000, ' ')), OPAY_KEY_SIZE,
         "size: JWKS over opay_jwks_max_size"},
        {{}, answer(200, "{\"keys\":["), OPAY_KEY_CHECKS,
         "checks: JWKS is not valid JSON"},
        {{}, answer(200, jwks({TestKey("weak", 1024).jwk()})), OPAY_KEY_CHECKS,
         "checks: key \"weak\": RSA key is 1024 bits"},
        {{}, answer(200, jwks({key1().jwk(), key1().jwk()})), OPAY_KEY_CHECKS,
         "checks: key \"k1\": kid used by more than one key"},
        {{}, answer(200, jwks({key1().jwk("\"use\":\"enc\"")})),
         OPAY_KEY_CHECKS, "checks: JWKS holds no RS256 signature key"},
        // OpenID metadata first
        {no_answer(OPAY_KEY_TLS, "bad certificate"), {}, OPAY_KEY_TLS,
         "tls: bad certificate (OpenID metadata)"},
        {answer(500, "{}"), {}, OPAY_KEY_HTTP,
         "http: status 500 (OpenID metadata)"},
        {answer(200, std::string(5000, ' ')), {}, OPAY_KEY_SIZE,
         "size: OpenID metadata over opay_jwks_max_size"},
        {answer(200, "{\"jwks_uri\":"), {}, OPAY_KEY_PARSE,
         "parse: OpenID metadata: "},
        {answer(200, "[]"), {}, OPAY_KEY_PARSE,
         "parse: OpenID metadata has no jwks_uri"},
        {answer(200, "{\"jwks_uri\":\"ftp://x/\"}"), {}, OPAY_KEY_PARSE,
         "parse: jwks_uri: URL must start with https://"},
        // the metadata is good; its jwks_uri is not served (FakeServer: dns)
        {answer(200, "{\"jwks_uri\":\"https://elsewhere.example/k\"}"), {},
         OPAY_KEY_DNS, "dns: no host (JWKS)"},
    };
    for (const auto& c : cases) {
        KeySource source;
        source.max_size = 4096;
        FakeServer server;
        if (!c.meta) {
            source.jwks_url = kJwksUrl;
            server.answers[kJwksUrl] = c.jwks;
        } else {
            source.openid_url = kMetaUrl;
            server.answers[kMetaUrl] = *c.meta;
        }
        Fetched f = fetch_keys(source, server.fetcher(), 0);
        EXPECT_FALSE(f.ok()) << c.text;
        EXPECT_EQ(f.result, c.kind) << f.error;
        EXPECT_TRUE(f.document.empty());
        EXPECT_EQ(f.error.rfind(c.text, 0), 0u) << f.error;
        if (c.kind != OPAY_KEY_OTHER) {
            EXPECT_EQ(f.error.rfind(std::string(result_name(c.kind)) + ": ",
                                    0),
                      0u)
                << f.error;
        }
    }
}

// libcurl's failures carry their kind from http_get through the C API.
TEST(KeyFetch, TheClientsFailuresKeepTheirKindThroughTheCApi) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
    ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    std::string port = std::to_string(ntohs(addr.sin_port));
    std::string url = "http://127.0.0.1:" + port + "/keys";
    struct Case {
        // bound, not listening: refused; listening, never answering: the
        // timeout
        bool listening;
        opay_key_result_e kind;
        const char* text;
    } cases[] = {{false, OPAY_KEY_CONNECT, "connect: "},
                 {true, OPAY_KEY_TIMEOUT, "timeout: "}};
    for (const auto& c : cases) {
        if (c.listening) {
            ASSERT_EQ(listen(fd, 4), 0);
        }
        opay_source_t src{};
        src.jwks_url = {url.data(), url.size()};
        src.max_size = kDefaultJwksMaxSize;
        src.timeout_ms = 300;
        opay_fetched_t f;
        opay_keys_fetch(&src, 0, &f);
        std::string error(f.error.data, f.error.len);
        EXPECT_FALSE(f.ok) << error;
        EXPECT_EQ(f.result, c.kind) << error;
        EXPECT_EQ(error.rfind(c.text, 0), 0u) << error;
        opay_fetched_free(&f);
    }
    close(fd);
}

// opay_status labels every kind; what is out of range is "other".
TEST(KeyFetch, ResultKindsAndTheirNames) {
    const char* names[] = {"ok",   "dns",  "connect", "tls",    "timeout",
                           "redirect", "http", "size", "parse", "checks",
                           "memory", "other"};
    ASSERT_EQ(std::size(names), size_t{OPAY_KEY_RESULTS});
    for (int r = 0; r < OPAY_KEY_RESULTS; r++) {
        auto kind = static_cast<opay_key_result_e>(r);
        EXPECT_EQ(result_name(kind), names[r]);
        opay_str_t c = opay_key_result_name(kind);
        EXPECT_EQ(std::string(c.data, c.len), names[r]);
        EXPECT_EQ(failure_text(kind, "detail"),
                  std::string(names[r]) + ": detail");
    }
    EXPECT_EQ(result_name(OPAY_KEY_RESULTS), "other");
    EXPECT_FALSE(Fetched().ok());  // nothing fetched is not ok
}

// What a 503 for want of keys says, from the kind the shim keeps.
TEST(KeyFetch, NoKeysTextNamesTheLastFailure) {
    EXPECT_EQ(no_keys_text(OPAY_KEY_OK), "the first fetch has not ended");
    EXPECT_EQ(no_keys_text(OPAY_KEY_TLS), "key server failed (tls)");
    for (int r = 1; r < OPAY_KEY_RESULTS; r++) {
        auto kind = static_cast<opay_key_result_e>(r);
        EXPECT_EQ(no_keys_text(kind),
                  "key server failed (" + std::string(result_name(kind)) +
                      ")");
    }
    EXPECT_EQ(no_keys_text(OPAY_KEY_RESULTS), "key server failed (other)");
}

TEST(KeyCache, WrittenOnSuccessAndReadBack) {
    FakeServer server;
    server.answers[kJwksUrl] = answer(200, key1().jwks());
    KeySource source;
    source.jwks_url = kJwksUrl;
    source.cache_path = temp_path("cache.json");
    Fetched f = fetch_keys(source, server.fetcher(), 1234);
    ASSERT_TRUE(f.ok()) << f.error;
    EXPECT_TRUE(f.error.empty()) << f.error;

    Fetched c = read_cache(source, owners());
    ASSERT_TRUE(c.ok()) << c.error;
    EXPECT_EQ(c.document, key1().jwks());
    EXPECT_EQ(c.fetched_at, 1234);
    EXPECT_EQ(c.url, kJwksUrl);
    EXPECT_EQ(c.kids, "k1");
    std::remove(source.cache_path.c_str());
}

TEST(KeyCache, AFailedFetchLeavesTheCacheAlone) {
    KeySource source;
    source.jwks_url = kJwksUrl;
    source.cache_path = temp_path("kept.json");
    FakeServer good;
    good.answers[kJwksUrl] = answer(200, key1().jwks());
    ASSERT_TRUE(fetch_keys(source, good.fetcher(), 1).ok());
    FakeServer bad;
    bad.answers[kJwksUrl] = answer(200, "{\"keys\":[]}");
    EXPECT_FALSE(fetch_keys(source, bad.fetcher(), 2).ok());
    Fetched c = read_cache(source, owners());
    ASSERT_TRUE(c.ok()) << c.error;
    EXPECT_EQ(c.fetched_at, 1);
    std::remove(source.cache_path.c_str());
}

TEST(KeyCache, UnwritableCacheIsReportedButKeysAreKept) {
    FakeServer server;
    server.answers[kJwksUrl] = answer(200, key1().jwks());
    KeySource source;
    source.jwks_url = kJwksUrl;
    source.cache_path = "/nonexistent-dir/opay/cache.json";
    Fetched f = fetch_keys(source, server.fetcher(), 1);
    EXPECT_TRUE(f.ok());
    EXPECT_EQ(f.result, OPAY_KEY_OK);
    EXPECT_EQ(f.error.rfind("cache: cannot create", 0), 0u) << f.error;
}

KeySource cached(const std::string& name) {
    KeySource source;
    source.jwks_url = kJwksUrl;
    source.cache_path = temp_path(name);
    return source;
}

void write_file(const std::string& path, const std::string& text,
                mode_t mode = 0600) {
    std::remove(path.c_str());
    { std::ofstream(path) << text; }
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

TEST(KeyCache, RefusesAForeignOrBadFile) {
    KeySource source = cached("foreign.json");
    const std::string& path = source.cache_path;
    write_file(path, key1().jwks());
    EXPECT_NE(read_cache(source, owners()).error.find("not an opay key cache"),
              std::string::npos);
    write_file(path, std::string("opay-jwks-cache 2 5 ") + kJwksUrl + " " +
                         kJwksUrl + "\n{\"keys\":[]}");
    Fetched f = read_cache(source, owners());
    EXPECT_FALSE(f.ok());
    EXPECT_EQ(f.result, OPAY_KEY_OTHER);  // no fetch's kind: only logged
    EXPECT_NE(f.error.find("no RS256 signature key"), std::string::npos)
        << f.error;
    // the format of old versions, which did not record the configured URL
    write_file(path, std::string("opay-jwks-cache 1 5 ") + kJwksUrl + "\n" +
                         key1().jwks());
    EXPECT_NE(read_cache(source, owners()).error.find("not an opay key cache"),
              std::string::npos);
    EXPECT_FALSE(read_cache(cached("missing.json"), owners()).ok());
    std::remove(path.c_str());
}

// Written 0600 whatever the umask (a daemonized nginx runs with umask 0),
// under a temporary name that is gone afterwards.
TEST(KeyCache, WrittenPrivateWhateverTheUmask) {
    KeySource source = cached("private.json");
    Fetched f;
    f.result = OPAY_KEY_OK;
    f.url = kJwksUrl;
    f.document = key1().jwks();
    mode_t old = umask(0);
    std::string err;
    bool written = write_cache(source, f, &err);
    umask(old);
    ASSERT_TRUE(written) << err;
    struct stat st;
    ASSERT_EQ(stat(source.cache_path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(st.st_uid, geteuid());
    EXPECT_TRUE(read_cache(source, owners()).ok());
    std::string dir = testing::TempDir();
    std::string base = source.cache_path.substr(dir.size()) + ".tmp.";
    std::unique_ptr<DIR, decltype(&closedir)> d(opendir(dir.c_str()),
                                                closedir);
    ASSERT_TRUE(d);
    while (struct dirent* e = readdir(d.get())) {
        EXPECT_NE(std::string(e->d_name).rfind(base, 0), 0u) << e->d_name;
    }
    std::remove(source.cache_path.c_str());
}

// What another local user could plant or change is not used.
TEST(KeyCache, RefusesAFileOthersCouldHaveWritten) {
    KeySource source = cached("planted.json");
    const std::string& path = source.cache_path;
    std::string good = std::string("opay-jwks-cache 2 5 ") + kJwksUrl + " " +
                       kJwksUrl + "\n" + key1().jwks();
    write_file(path, good, 0600);
    ASSERT_TRUE(read_cache(source, owners()).ok());

    for (mode_t mode : {0666, 0620, 0602}) {
        write_file(path, good, mode);
        Fetched f = read_cache(source, owners());
        EXPECT_FALSE(f.ok()) << mode;
        EXPECT_NE(f.error.find("writable by group or others"),
                  std::string::npos) << f.error;
    }

    write_file(path, good, 0600);
    Fetched f = read_cache(source, {geteuid() + 1, geteuid() + 2});
    EXPECT_FALSE(f.ok());
    EXPECT_NE(f.error.find("owned by uid"), std::string::npos) << f.error;

    std::string link = path + ".link";
    std::remove(link.c_str());
    ASSERT_EQ(symlink(path.c_str(), link.c_str()), 0);
    KeySource via_link = source;
    via_link.cache_path = link;
    f = read_cache(via_link, owners());
    EXPECT_FALSE(f.ok());
    EXPECT_NE(f.error.find("cannot open"), std::string::npos) << f.error;
    std::remove(link.c_str());

    std::remove(path.c_str());
    ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
    f = read_cache(source, owners());  // must not hang
    EXPECT_NE(f.error.find("not a regular file"), std::string::npos)
        << f.error;
    std::remove(path.c_str());

    source.max_size = 100;
    write_file(path, good + std::string(20000, ' '), 0600);
    f = read_cache(source, owners());
    EXPECT_NE(f.error.find("larger than opay_jwks_max_size"),
              std::string::npos) << f.error;
    write_file(path, good, 0600);
    f = read_cache(source, owners());
    EXPECT_NE(f.error.find("larger than opay_jwks_max_size"),
              std::string::npos) << f.error;
    std::remove(path.c_str());
}

// A cache fetched for another URL (the issuer moved, or another source
// shares the path) is not used.
TEST(KeyCache, RefusesACacheRecordedForAnotherUrl) {
    FakeServer server;
    server.answers[kJwksUrl] = answer(200, key1().jwks());
    KeySource source = cached("moved.json");
    ASSERT_TRUE(fetch_keys(source, server.fetcher(), 1).ok());
    ASSERT_TRUE(read_cache(source, owners()).ok());

    KeySource moved = source;
    moved.jwks_url = "https://new.example.com/keys";
    Fetched f = read_cache(moved, owners());
    EXPECT_FALSE(f.ok());
    EXPECT_NE(f.error.find("not from the configured URL"), std::string::npos)
        << f.error;

    // the same JWKS URL reached through OpenID metadata is another source
    KeySource meta = source;
    meta.jwks_url.clear();
    meta.openid_url = kMetaUrl;
    EXPECT_FALSE(read_cache(meta, owners()).ok());
    std::remove(source.cache_path.c_str());
}

// A key cache file at path for kJwksUrl holding jwks, read through the
// shim's C API as this user's.
void read_cache_through_c_api(const std::string& path,
                              const std::string& jwks, opay_fetched_t* f) {
    write_file(path, std::string("opay-jwks-cache 2 5 ") + kJwksUrl + " " +
                         kJwksUrl + "\n" + jwks);
    opay_source_t src{};
    src.jwks_url = {kJwksUrl, sizeof(kJwksUrl) - 1};
    src.cache_path = {path.c_str(), path.size()};
    src.max_size = kDefaultJwksMaxSize;
    uid_t me = geteuid();
    opay_keys_read_cache(&src, &me, 1, f);
}

// A good set the shim's zone cannot hold: a memory failure, the core's
// text for the log.
TEST(KeyCache, ASetTheZoneCannotHoldIsAMemoryFailure) {
    std::string path = temp_path("zone-full.json");
    opay_fetched_t f;
    read_cache_through_c_api(path, key1().jwks(), &f);
    ASSERT_TRUE(f.ok) << std::string(f.error.data, f.error.len);
    opay_fetched_zone_full(&f);
    EXPECT_FALSE(f.ok);
    EXPECT_EQ(f.result, OPAY_KEY_MEMORY);
    EXPECT_EQ(std::string(f.error.data, f.error.len),
              "memory: the key zone is full");
    opay_fetched_free(&f);
    std::remove(path.c_str());

    opay_fetched_t none{};  // nothing owned: the kind alone
    opay_fetched_zone_full(&none);
    EXPECT_EQ(none.result, OPAY_KEY_MEMORY);
    EXPECT_EQ(none.error.len, 0u);
}

// What the shim logs (kids, URLs, reasons) comes out of the C API as one
// line of printable ASCII: a kid cannot forge a log line.
TEST(KeyCache, TheCApiEscapesWhatGoesToTheLog) {
    TestKey forger("k\n2026/12/06 [emerg] forged");
    std::string jwk = forger.jwk();
    jwk.replace(jwk.find('\n'), 1, "\\n");  // JSON-escaped in the document
    std::string path = temp_path("escaped.json");
    opay_fetched_t f;
    read_cache_through_c_api(path, "{\"keys\":[" + jwk + "]}", &f);
    ASSERT_TRUE(f.ok) << std::string(f.error.data, f.error.len);
    EXPECT_EQ(std::string(f.kids.data, f.kids.len),
              "k\\x0a2026/12/06 [emerg] forged");
    opay_fetched_free(&f);

    std::string dup = "{\"keys\":[" + jwk + "," + jwk + "]}";
    char err[256];
    EXPECT_EQ(opay_keys_load({dup.data(), dup.size()}, err, sizeof(err)),
              nullptr);
    EXPECT_EQ(std::string(err).find('\n'), std::string::npos) << err;
    EXPECT_NE(std::string(err).find("k\\x0a2026"), std::string::npos) << err;
    std::remove(path.c_str());
}

}  // namespace
}  // namespace opay
