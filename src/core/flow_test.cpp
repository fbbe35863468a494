// The checks every webhook call passes first (method, size, bearer token,
// media type, JSON) and the step plumbing both flows share, run through
// the PaymentRequest flow.
#include "flow.h"

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "ascii.h"
#include "flow_fixture.h"
#include "payment_request_flow.h"

namespace opay {
namespace {

using test::FlowTest;
using test::kInvoice;
using test::kNow;

TEST_F(FlowTest, RefusesBeforeTheToken) {
    Input in = input();
    in.method = "GET";
    PaymentRequestFlow get(config, in);
    EXPECT_EQ(get.response().status, 405);
    EXPECT_EQ(code(get), "method_not_allowed");
    in = input();
    in.too_large = true;
    PaymentRequestFlow big(config, in);
    EXPECT_EQ(big.response().status, 413);
}

TEST_F(FlowTest, RefusesBadTokensWith401) {
    Input in = input();
    in.authorization = "";
    PaymentRequestFlow none(config, in);
    EXPECT_EQ(none.response().status, 401);
    EXPECT_TRUE(none.response().www_authenticate);
    EXPECT_EQ(none.response().body,
              R"({"error":{"code":"invalid_token","message":"missing_token"}})");
    EXPECT_EQ(none.variable(OPAY_VAR_ERROR), "missing_token");
    EXPECT_EQ(none.response().log, OPAY_LOG_INFO);

    in.authorization = "Basic abc";
    EXPECT_EQ(PaymentRequestFlow(config, in).response().body,
              R"({"error":{"code":"invalid_token","message":"bad_scheme"}})");

    in.authorization = "";
    in.action_authorization = token;
    EXPECT_FALSE(PaymentRequestFlow(config, in).responding());

    in = input();
    in.now = kNow + 7200;
    PaymentRequestFlow expired(config, in);
    EXPECT_EQ(expired.response().status, 401);
    EXPECT_NE(expired.response().log_message.find("expired"), std::string::npos);
    EXPECT_EQ(expired.response().log_message.find("eyJ"), std::string::npos)
        << "no token in the log";
}

TEST_F(FlowTest, LogsOnlyTheReasonCodeOfAnUnverifiedToken) {
    // a kid with a line break, a forged log line and a quote in it
    std::string forged = "Bearer " + key.sign(
        R"({"alg":"RS256","kid":"x\n2026/01/01 [alert] forged \"line"})",
        R"({"iss":"iss","aud":"m1","exp":1700003600})");
    Input in = input();
    in.authorization = forged;
    PaymentRequestFlow f(config, in);
    EXPECT_EQ(f.response().status, 401);
    EXPECT_EQ(f.response().log_message, "bearer token refused: unknown_key");
    EXPECT_FALSE(f.variable(OPAY_VAR_SUB).has_value())
        << "nothing of an unverified token is kept";
}

TEST_F(FlowTest, RefusesControlCharactersInProductContext) {
    struct Case {
        const char* context;
        const char* field;
    } cases[] = {
        {R"({"invoiceId":"12345?a=1 HTTP/1.1\r\nX-Injected: yes"})",
         "productContext.invoiceId"},
        {R"({"invoiceId":"1","note":"tab\there"})", "productContext.note"},
        {R"({"invoiceId":"1","del":"\u007f"})", "productContext.del"},
        {R"({"in\nvoice":"1"})", "a member name must not"},
    };
    for (const auto& c : cases) {
        std::string body = std::string(R"({"methodData":[{
            "supportedMethods":"https://pay.microsoft.com/microsoftpay",
            "data":{"event":"loadentity","productContext":)") +
                           c.context + "}}]}";
        PaymentRequestFlow f(config, input(body));
        ASSERT_TRUE(f.responding()) << c.context;
        EXPECT_EQ(f.response().status, 400) << c.context;
        EXPECT_EQ(code(f), "invalid_payload");
        EXPECT_NE(f.response().body.find(c.field), std::string::npos)
            << f.response().body;
        EXPECT_TRUE(f.fetches().empty()) << "nothing fetched";
    }
    // what may reach a URI, header or log is fine otherwise
    PaymentRequestFlow ok(config, input(R"({"methodData":[{
        "supportedMethods":"https://pay.microsoft.com/microsoftpay",
        "data":{"event":"loadentity",
                "productContext":{"invoiceId":"a/b?c#d %e\u00e9"}}}]})"));
    EXPECT_FALSE(ok.responding());
    EXPECT_EQ(ok.context_field("invoiceId"), "a/b?c#d %e\xc3\xa9");
}

TEST(LogText, EscapesAndCuts) {
    EXPECT_EQ(log_value("plain-id_1"), "plain-id_1");
    EXPECT_EQ(log_value("a\nb\"c\\d\xc3\xa9"),
              "a\\x0ab\\x22c\\x5cd\\xc3\\xa9");
    EXPECT_EQ(log_value(std::string(100, 'x')), std::string(64, 'x') + "...");
    EXPECT_EQ(log_line("refused \"a\"\r\n[alert] x"),
              "refused \"a\"\\x0d\\x0a[alert] x");
}

TEST_F(FlowTest, RefusesBadMediaTypeAndJson) {
    struct Case {
        const char* body;
        int status;
        const char* code;
    };
    const Case cases[] = {
        {"{", 400, "malformed_json"},
        {"{\"a\":1,\"a\":1}", 400, "malformed_json"},
    };
    for (const auto& c : cases) {
        PaymentRequestFlow f(config, input(c.body));
        ASSERT_TRUE(f.responding()) << c.body;
        EXPECT_EQ(f.response().status, c.status) << c.body;
        EXPECT_EQ(code(f), c.code) << c.body;
    }
    Input in = input();
    in.content_type = "text/json";
    EXPECT_EQ(PaymentRequestFlow(config, in).response().status, 415);
    in.content_type = "application/json;charset=UTF-8";
    EXPECT_FALSE(PaymentRequestFlow(config, in).responding());
}

TEST_F(FlowTest, MapsInvoiceBackendFailures) {
    struct Case {
        int status;
        const char* body;
        int answer;
        const char* code;
        opay_log_e log;
    };
    const Case cases[] = {
        {404, "", 404, "unknown_invoice", OPAY_LOG_INFO},
        {500, "", 502, "backend_error", OPAY_LOG_ERROR},
        {504, "", 504, "backend_timeout", OPAY_LOG_ERROR},
        {OPAY_FETCH_FAILED, "", 502, "backend_error", OPAY_LOG_ERROR},
        {200, "not json", 502, "backend_error", OPAY_LOG_ERROR},
        {200, R"({"@type":"Invoice","identifier":"1"})", 502, "backend_error",
         OPAY_LOG_ERROR},
    };
    for (const auto& c : cases) {
        PaymentRequestFlow f(config, input());
        f.feed(0, c.status, c.body);
        ASSERT_TRUE(f.responding());
        EXPECT_EQ(f.response().status, c.answer) << c.status << c.body;
        EXPECT_EQ(code(f), c.code);
        EXPECT_EQ(f.response().log, c.log);
        EXPECT_FALSE(f.response().log_message.empty());
    }
}

TEST_F(FlowTest, IgnoresStrayFeeds) {
    PaymentRequestFlow f(config, input());
    f.feed(5, 200, kInvoice);
    EXPECT_FALSE(f.responding());
    f.feed(0, 200, kInvoice);
    std::string first = f.response().body;
    f.feed(0, 500, "");
    EXPECT_EQ(f.response().body, first);
}

// The body in one of the worker's arenas (Input::arenas): a flow holds
// one from its parse until it is freed.

TEST_F(FlowTest, FlowsAliveAtOnceGetDistinctArenas) {
    auto arenas = std::make_shared<json::Arenas>(4, 64 * 1024);
    Input in = input();
    in.arenas = arenas;
    PaymentRequestFlow a(config, in);
    PaymentRequestFlow b(config, in);
    ASSERT_NE(a.arena(), nullptr);
    ASSERT_NE(b.arena(), nullptr);
    EXPECT_NE(a.arena(), b.arena());
    EXPECT_EQ(arenas->lent(), 2u);
    // both still read their own body while the other lives
    a.feed(0, 200, kInvoice);
    b.feed(0, 200, kInvoice);
    EXPECT_EQ(a.response().status, 200);
    EXPECT_EQ(a.response().body, b.response().body);
    EXPECT_EQ(a.context_field("invoiceId"), "12345");
    EXPECT_EQ(b.context_field("n"), "7");
}

TEST_F(FlowTest, AFreedFlowGivesItsArenaToTheNext) {
    auto arenas = std::make_shared<json::Arenas>(4, 64 * 1024);
    Input in = input();
    in.arenas = arenas;
    const json::Arena* first = nullptr;
    {
        PaymentRequestFlow f(config, in);
        first = f.arena();
        ASSERT_NE(first, nullptr);
    }
    EXPECT_EQ(arenas->lent(), 0u);
    PaymentRequestFlow next(config, in);
    EXPECT_EQ(next.arena(), first);
    EXPECT_EQ(arenas->made(), 1u);
}

TEST_F(FlowTest, WithEveryArenaLentAFlowUsesAFreshPool) {
    auto arenas = std::make_shared<json::Arenas>(1, 64 * 1024);
    Input in = input();
    in.arenas = arenas;
    PaymentRequestFlow holder(config, in);
    ASSERT_NE(holder.arena(), nullptr);
    PaymentRequestFlow f(config, in);
    EXPECT_EQ(f.arena(), nullptr);
    f.feed(0, 200, kInvoice);
    PaymentRequestFlow plain(config, input());
    plain.feed(0, 200, kInvoice);
    EXPECT_EQ(f.response().status, 200);
    EXPECT_EQ(f.response().body, plain.response().body);
}

// A refused call never reaches its body: it holds no arena.
TEST_F(FlowTest, ARefusedCallHoldsNoArena) {
    auto arenas = std::make_shared<json::Arenas>(1, 64 * 1024);
    Input in = input();
    in.arenas = arenas;
    in.authorization = "Bearer x.y.z";
    PaymentRequestFlow f(config, in);
    EXPECT_EQ(f.response().status, 401);
    EXPECT_EQ(f.arena(), nullptr);
    EXPECT_EQ(arenas->lent(), 0u);
}

TEST_F(FlowTest, ABodyLargerThanItsArenaSpillsAndWorks) {
    auto arenas = std::make_shared<json::Arenas>(1, 4096);
    std::string context = R"({"invoiceId":"12345")";
    for (int i = 0; context.size() < 32 * 1024; ++i) {
        context += ",\"field" + std::to_string(i) +
                   "\":\"a value long enough to be kept out of line\"";
    }
    context += "}";
    std::string body = R"({"methodData":[{
        "supportedMethods":"https://pay.microsoft.com/microsoftpay",
        "data":{"productContext":)" + context + R"(,"event":"loadentity"}}]})";
    Input in = input(body);
    in.arenas = arenas;
    PaymentRequestFlow f(config, in);
    ASSERT_NE(f.arena(), nullptr);
    f.feed(0, 200, kInvoice);
    PaymentRequestFlow plain(config, input(body));
    plain.feed(0, 200, kInvoice);
    ASSERT_EQ(f.response().status, 200) << f.response().body;
    EXPECT_EQ(f.response().body, plain.response().body);
    EXPECT_NE(f.response().body.find("field99"), std::string::npos);
    EXPECT_EQ(f.context_field("field7"),
              "a value long enough to be kept out of line");
}

// Every refusal of the body is the same in an arena as in a fresh pool.
TEST_F(FlowTest, AnswersTheSameWithAndWithoutArenas) {
    auto arenas = std::make_shared<json::Arenas>(2, 8192);
    const std::string bodies[] = {
        test::kLoad,
        R"({"a":1,"a":2})",
        "{\"methodData\":[\"\\udc00\"]}",
        std::string(40, '['),
        R"({"methodData":[]})",
        R"({"methodData":[{"supportedMethods":"x","data":{}}]})",
    };
    for (const auto& body : bodies) {
        Input in = input(body);
        in.arenas = arenas;
        PaymentRequestFlow with(config, in);
        PaymentRequestFlow without(config, input(body));
        ASSERT_EQ(with.responding(), without.responding()) << body;
        if (!with.responding()) {
            with.feed(0, 200, kInvoice);
            without.feed(0, 200, kInvoice);
        }
        EXPECT_EQ(with.response().status, without.response().status) << body;
        EXPECT_EQ(with.response().body, without.response().body) << body;
        EXPECT_EQ(with.response().log_message,
                  without.response().log_message);
    }
    EXPECT_EQ(arenas->lent(), 0u);
}

}  // namespace
}  // namespace opay
