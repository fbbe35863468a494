// The flow with keys fetched from the issuer (opay_jwks_url): the fetched
// set verifies, opay_jwks_file's keys are the fallback, and no keys at all
// is a 503 naming the cause.
#include <gtest/gtest.h>

#include "keyset.h"
#include "payment_request_flow.h"
#include "test_util.h"

namespace opay {
namespace {

using test::TestKey;

constexpr const char* kLoad = R"({"methodData":[{
    "supportedMethods":"https://pay.microsoft.com/microsoftpay",
    "data":{"productContext":{"invoiceId":"1"},"event":"loadentity"}}]})";

struct RemoteKeys : ::testing::Test {
    TestKey fetched{"fetched"};
    TestKey pinned{"pinned"};
    KeySet fetched_set = std::get<KeySet>(load_jwks(fetched.jwks()));
    Config config;
    std::string header;

    RemoteKeys() {
        config.remote_keys = true;
        config.token.issuer = "iss";
        config.token.audience = "m1";
    }

    PaymentRequestFlow run(const TestKey& signer, const KeySet* keys,
             std::string_view why = "") {
        header = "Bearer " + signer.token(
                                 R"({"iss":"iss","aud":"m1","exp":2000000000})");
        Input in;
        in.method = "POST";
        in.content_type = "application/json";
        in.authorization = header;
        in.body = kLoad;
        in.now = 1700000000;
        in.keys = keys;
        in.keys_error = why;
        return PaymentRequestFlow(config, in);
    }

    static std::string error(const Flow& f) {
        auto v = f.variable(OPAY_VAR_ERROR);
        return v ? std::string(*v) : "";
    }
};

TEST_F(RemoteKeys, FetchedSetVerifies) {
    PaymentRequestFlow f = run(fetched, &fetched_set);
    EXPECT_FALSE(f.responding()) << f.response().body;  // fetches the invoice
}

TEST_F(RemoteKeys, UnknownKidIsRefusedAsUnknownKey) {
    PaymentRequestFlow f = run(pinned, &fetched_set);
    ASSERT_TRUE(f.responding());
    EXPECT_EQ(f.response().status, 401);
    EXPECT_EQ(error(f), "unknown_key");
    EXPECT_EQ(f.response().keys_wait, OPAY_KEYS_WAIT_UNKNOWN_KEY);
}

// Without opay_jwks_url no refresh can bring the kid: no waiting.
TEST_F(RemoteKeys, UnknownKidOfFileKeysWaitsForNothing) {
    config.remote_keys = false;
    config.keys = std::get<KeySet>(load_jwks(fetched.jwks()));
    PaymentRequestFlow f = run(pinned, nullptr);
    ASSERT_TRUE(f.responding());
    EXPECT_EQ(error(f), "unknown_key");
    EXPECT_EQ(f.response().keys_wait, OPAY_KEYS_WAIT_NONE);
}

TEST_F(RemoteKeys, OtherRefusalsWaitForNothing) {
    config.token.issuer = "other";
    PaymentRequestFlow bad = run(fetched, &fetched_set);
    ASSERT_TRUE(bad.responding());
    EXPECT_EQ(bad.response().status, 401);
    EXPECT_NE(error(bad), "unknown_key");
    EXPECT_EQ(bad.response().keys_wait, OPAY_KEYS_WAIT_NONE);
}

TEST_F(RemoteKeys, FileKeysAreTheFallback) {
    config.keys = std::get<KeySet>(load_jwks(pinned.jwks()));
    EXPECT_FALSE(run(pinned, &fetched_set).responding());
    EXPECT_FALSE(run(fetched, &fetched_set).responding());
    EXPECT_FALSE(run(pinned, nullptr).responding());  // none fetched yet
}

TEST_F(RemoteKeys, NoKeysAtAllIs503NamingTheCause) {
    // the cause as the C API gives it (opay_input_t.keys_failure; the
    // C API's own test is CApi.NoKeysYetNamesTheLastFailure)
    PaymentRequestFlow f = run(fetched, nullptr, no_keys_text(OPAY_KEY_TLS));
    ASSERT_TRUE(f.responding());
    EXPECT_EQ(f.response().status, 503);
    EXPECT_FALSE(f.response().www_authenticate);
    EXPECT_EQ(f.response().body,
              R"x({"error":{"code":"no_signing_keys","message":"no signing )x"
              R"x(keys yet: key server failed (tls)"}})x");
    EXPECT_EQ(error(f), "no_signing_keys");
    EXPECT_EQ(f.response().keys_wait, OPAY_KEYS_WAIT_NO_KEYS);
}

}  // namespace
}  // namespace opay
