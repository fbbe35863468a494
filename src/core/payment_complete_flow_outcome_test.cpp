// The PaymentComplete flow's outcome: whose charge the record names, the
// journal and notify around it, and the log line when either fails.
#include "payment_complete_flow.h"

#include <string>

#include <gtest/gtest.h>

#include "payment_complete_flow_fixture.h"

namespace opay {
namespace {

using namespace complete_test;

TEST_F(CompleteTest, OutcomeJournalFailureLogsNoPersonalData) {
    body = std::string(R"({"requestId":"12345",
        "methodName":"https://pay.microsoft.com/microsoftpay",
        "details":{"productContext":{"invoiceId":"12345"},
                   "paymentToken":")") +
           payment_token(R"({"Format":"stripe","TestMode":true})") +
           R"(","amount":{"currency":"USD","value":"10.00"}},
        "payerName":"Jane Payer","payerEmail":"jane@example.com",
        "payerPhone":"+1 425 555 0100"})";
    PaymentCompleteFlow f(config, input());
    up_to_confirm(f);
    f.feed(0, 200, kSucceeded);
    ASSERT_EQ(kind(f), OPAY_STEP_JOURNAL);
    EXPECT_NE(f.action()->data.find("jane@example.com"), std::string::npos)
        << "the journal keeps the record";
    f.resolve(-1, {});  // the outcome could not be written
    f.feed(0, 204, "");
    f.resolve(0, {});
    f.resolve(0, {});
    ASSERT_TRUE(f.responding());
    const std::string& log = f.response().log_message;
    EXPECT_NE(log.find("journal write failed, outcome entry"),
              std::string::npos) << log;
    EXPECT_NE(log.find("pi_1"), std::string::npos) << log;
    for (const char* personal : {"Jane", "jane@example.com", "555", "p@x"}) {
        EXPECT_EQ(log.find(personal), std::string::npos) << log;
    }
}

TEST_F(CompleteTest, WhoWasChargedIsTheSucceededIntents) {
    // another payer's update landed between ours and our confirm: their
    // pair was charged; journalled and notified as their success, and
    // this payer told the invoice is paid
    PaymentCompleteFlow f(config, input());
    up_to_confirm(f);
    f.feed(0, 200, intent("succeeded", 1300, "pm_2"));
    ASSERT_EQ(kind(f), OPAY_STEP_JOURNAL);
    f.resolve(0, {});
    json::Document record;
    ASSERT_FALSE(json::parse(f.fetches()[0].body, record));
    EXPECT_EQ(json::write(record["result"]), "\"success\"");
    EXPECT_EQ(json::write(record["kind"]), "\"other_payer\"");
    EXPECT_EQ(json::write(record["paymentMethod"]), "\"pm_2\"");
    EXPECT_EQ(json::write(record["amount"]),
              R"({"currency":"USD","value":"13.00"})");
    EXPECT_FALSE(record.HasMember("payer")) << "not this payer's charge";
    f.feed(0, 204, "");
    f.resolve(0, {});
    ASSERT_EQ(kind(f), OPAY_STEP_SETTLE);
    EXPECT_FALSE(f.action()->store);
    f.resolve(0, {});
    auto d = reply(f);
    EXPECT_EQ(json::write(d["result"]), "\"fail\"");
    EXPECT_EQ(json::write(d["error"]["innererror"]["message"]),
              "\"This invoice has already been paid.\"");
    // their pair at this payer's amount: that success, not "charged by us"
    config.journal = config.notify = false;
    PaymentCompleteFlow g(config, input());
    up_to_confirm(g);
    g.feed(0, 200, intent("succeeded", 1000, "pm_2"));
    ASSERT_TRUE(g.action()->store);
    answer(g);
    EXPECT_EQ(json::write(reply(g)["result"]), "\"success\"");
    EXPECT_EQ(g.variable(OPAY_VAR_CHARGE), "other_payer");
}

TEST_F(CompleteTest, NotifyFailureStillAnswersTheCharge) {
    PaymentCompleteFlow f(config, input());
    up_to_confirm(f);
    f.feed(0, 200, kSucceeded);
    f.resolve(0, {});
    f.feed(0, 502, "");
    ASSERT_EQ(kind(f), OPAY_STEP_JOURNAL);
    EXPECT_NE(f.action()->data.find("\"ok\":false"), std::string::npos);
    f.resolve(0, {});
    f.resolve(0, {});
    EXPECT_EQ(json::write(reply(f)["result"]), "\"success\"");
    EXPECT_EQ(f.response().log, OPAY_LOG_ERROR);
    EXPECT_NE(f.response().log_message.find("opay journal replay"),
              std::string::npos);
}

// Payer B (another device, the same amount) finds payer A's charge before
// making a PaymentMethod: B is answered that success, but the record is
// A's charge and names neither B nor B's address.
TEST_F(CompleteTest, AChargeFoundBeforePayingNamesNoPayerInItsRecord) {
    config.journal = false;
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, kInvoice);
    ASSERT_NO_FATAL_FAILURE(found_charged_by_another(f));
    json::Document record;
    ASSERT_FALSE(json::parse(f.fetches()[0].body, record));
    EXPECT_EQ(json::write(record["paymentMethod"]), "\"pm_A\"");
    EXPECT_EQ(json::write(record["kind"]), "\"already_paid\"");
    EXPECT_FALSE(record.HasMember("payer")) << f.fetches()[0].body;
    f.feed(0, 204, "");
    answer(f);
    EXPECT_EQ(json::write(reply(f)["result"]), "\"success\"");
}

// review18b: the charged payer's own retry. Delivery 1's confirm answer is
// lost and the read-back shows processing: its record is "unknown". The
// service resends the same payment (same single-use token, hence the same
// PaymentMethod pm_1 under payment_method_key): it finds the intent
// succeeded with pm_1 at its amount. That is this payer's charge, but the
// record is already_paid with no payer and no address, and the README
// says to ship only to a succeeded record's address: nobody ships.
TEST_F(CompleteTest, Review18bChargedPayersOwnRetryRecordNamesThePayer) {
    config.journal = false;
    PaymentCompleteFlow d1(config, input());
    up_to_confirm(d1);
    d1.feed(0, OPAY_FETCH_FAILED, "");              // confirm: no answer
    d1.feed(0, 200, intent("processing", 1000, "pm_1"));  // read back
    ASSERT_EQ(d1.fetches().at(0).target, OPAY_TARGET_NOTIFY);
    EXPECT_NE(d1.fetches()[0].body.find("\"kind\":\"unknown\""),
              std::string::npos);
    PaymentCompleteFlow d2(config, input());       // the same payment again
    d2.resolve(OPAY_CLAIM_NEW, {});
    d2.feed(0, 200, kInvoice);
    d2.feed(0, 200, kCreated, true);
    d2.feed(0, 200, kSucceeded);                   // pm_1 at 1000
    ASSERT_EQ(d2.fetches().at(0).path, "v1/payment_methods");
    d2.feed(0, 200, kMethod, true);                // the token's pm_1 again
    ASSERT_EQ(d2.fetches().at(0).target, OPAY_TARGET_NOTIFY);
    const std::string record = d2.fetches()[0].body;
    EXPECT_NE(record.find("\"kind\":\"succeeded\""), std::string::npos)
        << record;
    EXPECT_NE(record.find("\"payer\""), std::string::npos) << record;
}

}  // namespace
}  // namespace opay
