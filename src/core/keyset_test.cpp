#include "keyset.h"

#include <cstdio>
#include <fstream>
#include <map>

#include <gtest/gtest.h>
#include <unistd.h>

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

// An HTTP server in a map: URL to answer; every GET is counted.
struct FakeServer {
    std::map<std::string, HttpAnswer> answers;
    std::vector<std::string> asked;

    Fetcher fetcher() {
        return [this](const std::string& url) {
            asked.push_back(url);
            auto it = answers.find(url);
            if (it == answers.end()) return HttpAnswer{0, "", "dns: no host"};
            return it->second;
        };
    }
};

std::string temp_path(const std::string& name) {
    return testing::TempDir() + "opay-keyset-" + std::to_string(getpid()) +
           "-" + name;
}

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
    server.answers[kJwksUrl] = {200, "{\"keys\":[" + key1().jwk() + "," +
                                         key2().jwk() + "]}", ""};
    KeySource source;
    source.jwks_url = kJwksUrl;
    Fetched f = fetch_keys(source, server.fetcher(), 1000);
    ASSERT_TRUE(f.ok) << f.error;
    EXPECT_EQ(f.kids, "k1,k2");
    EXPECT_EQ(f.url, kJwksUrl);
    EXPECT_EQ(f.fetched_at, 1000);
    EXPECT_EQ(server.asked.size(), 1u);
}

TEST(KeyFetch, FollowsOpenIdMetadataToJwksUri) {
    FakeServer server;
    server.answers[kMetaUrl] = {
        200, std::string("{\"issuer\":\"x\",\"jwks_uri\":\"") + kJwksUrl + "\"}",
        ""};
    server.answers[kJwksUrl] = {200, key1().jwks(), ""};
    KeySource source;
    source.openid_url = kMetaUrl;
    Fetched f = fetch_keys(source, server.fetcher(), 0);
    ASSERT_TRUE(f.ok) << f.error;
    EXPECT_EQ(f.url, kJwksUrl);
    EXPECT_EQ(server.asked, (std::vector<std::string>{kMetaUrl, kJwksUrl}));
}

TEST(KeyFetch, RefusesAPlainHttpJwksUriInMetadata) {
    FakeServer server;
    server.answers[kMetaUrl] = {
        200, "{\"jwks_uri\":\"http://login.example.com/keys\"}", ""};
    KeySource source;
    source.openid_url = kMetaUrl;
    Fetched f = fetch_keys(source, server.fetcher(), 0);
    EXPECT_FALSE(f.ok);
    EXPECT_EQ(f.error.rfind("parse: jwks_uri", 0), 0u) << f.error;
    EXPECT_EQ(server.asked.size(), 1u);
}

TEST(KeyFetch, NamesTheReasonOfEachFailure) {
    KeySource source;
    source.jwks_url = kJwksUrl;
    source.max_size = 4096;
    struct Case {
        HttpAnswer answer;
        std::string starts;
    } cases[] = {
        {{0, "", "tls: certificate verify failed"}, "tls: "},
        {{404, "nope", ""}, "http: status 404"},
        {{200, "{\"keys\":[", ""}, "checks: JWKS is not valid JSON"},
        {{200, std::string(5000, ' '), ""}, "size: "},
        {{200, "{\"keys\":[" + TestKey("weak", 1024).jwk() + "]}", ""},
         "checks: key \"weak\": RSA key is 1024 bits"},
        {{200, "{\"keys\":[" + key1().jwk() + "," + key1().jwk() + "]}", ""},
         "checks: key \"k1\": kid used by more than one key"},
        {{200, "{\"keys\":[" + key1().jwk("\"use\":\"enc\"") + "]}", ""},
         "checks: JWKS holds no RS256 signature key"},
    };
    for (const auto& c : cases) {
        FakeServer server;
        server.answers[kJwksUrl] = c.answer;
        Fetched f = fetch_keys(source, server.fetcher(), 0);
        EXPECT_FALSE(f.ok);
        EXPECT_TRUE(f.document.empty());
        EXPECT_EQ(f.error.rfind(c.starts, 0), 0u) << f.error;
    }
}

TEST(KeyCache, WrittenOnSuccessAndReadBack) {
    FakeServer server;
    server.answers[kJwksUrl] = {200, key1().jwks(), ""};
    KeySource source;
    source.jwks_url = kJwksUrl;
    source.cache_path = temp_path("cache.json");
    Fetched f = fetch_keys(source, server.fetcher(), 1234);
    ASSERT_TRUE(f.ok) << f.error;
    EXPECT_TRUE(f.error.empty()) << f.error;

    Fetched c = read_cache(source.cache_path);
    ASSERT_TRUE(c.ok) << c.error;
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
    good.answers[kJwksUrl] = {200, key1().jwks(), ""};
    ASSERT_TRUE(fetch_keys(source, good.fetcher(), 1).ok);
    FakeServer bad;
    bad.answers[kJwksUrl] = {200, "{\"keys\":[]}", ""};
    EXPECT_FALSE(fetch_keys(source, bad.fetcher(), 2).ok);
    Fetched c = read_cache(source.cache_path);
    ASSERT_TRUE(c.ok) << c.error;
    EXPECT_EQ(c.fetched_at, 1);
    std::remove(source.cache_path.c_str());
}

TEST(KeyCache, UnwritableCacheIsReportedButKeysAreKept) {
    FakeServer server;
    server.answers[kJwksUrl] = {200, key1().jwks(), ""};
    KeySource source;
    source.jwks_url = kJwksUrl;
    source.cache_path = "/nonexistent-dir/opay/cache.json";
    Fetched f = fetch_keys(source, server.fetcher(), 1);
    EXPECT_TRUE(f.ok);
    EXPECT_EQ(f.error.rfind("cache: cannot create", 0), 0u) << f.error;
}

TEST(KeyCache, RefusesAForeignOrBadFile) {
    std::string path = temp_path("foreign.json");
    { std::ofstream(path) << key1().jwks(); }
    EXPECT_NE(read_cache(path).error.find("not an opay key cache"),
              std::string::npos);
    { std::ofstream(path) << "opay-jwks-cache 1 5 https://x/k\n{\"keys\":[]}"; }
    Fetched f = read_cache(path);
    EXPECT_FALSE(f.ok);
    EXPECT_NE(f.error.find("no RS256 signature key"), std::string::npos)
        << f.error;
    EXPECT_FALSE(read_cache(temp_path("missing.json")).ok);
    std::remove(path.c_str());
}

}  // namespace
}  // namespace opay
