// The event rule and what is read from an echo.
#include "echo.h"

#include <gtest/gtest.h>

namespace opay {
namespace {

// An echo of our answer: event, the option the echo carries (JSON text or
// nullptr for none) and the options our answer listed.
json::Document echo(const char* event, const char* option,
                    const char* listed = nullptr) {
    std::string body = std::string(R"({"methodData":[{
        "supportedMethods":"https://pay.microsoft.com/microsoftpay",
        "data":{"productContext":{"invoiceId":"1"},"event":")") +
                       event + R"("}}],"details":{"id":"1")";
    if (listed) body += std::string(R"(,"shippingOptions":)") + listed;
    body += R"(},"shippingAddress":{"country":"US"})";
    if (option) body += std::string(R"(,"shippingOption":)") + option;
    body += "}";
    json::Document d;
    EXPECT_FALSE(json::parse(body, d)) << body;
    return d;
}

constexpr const char* kPrioritySelected =
    R"([{"id":"norush","selected":false},{"id":"priority","selected":true}])";
constexpr const char* kNoneSelected =
    R"([{"id":"norush"},{"id":"priority","selected":false}])";

TEST(EventRule, TheEventNamesTheChangeUnlessMislabelled) {
    struct Case {
        const char* event;
        const char* option;
        const char* listed;
        std::optional<Event> want;
        const char* why;
    };
    const Case cases[] = {
        {"loadentity", nullptr, nullptr, Event::kLoadEntity, "load"},
        {"loadentity", R"("priority")", nullptr, Event::kLoadEntity,
         "a load is a load"},
        {"shippingoptionchange", R"("priority")", kPrioritySelected,
         Event::kOptionChange, "an option change is an option change"},
        {"shippingoptionchange", R"("norush")", nullptr,
         Event::kOptionChange, "even without options listed"},
        {"shippingaddresschange", nullptr, nullptr, Event::kAddressChange,
         "first address"},
        {"shippingaddresschange", "null", kNoneSelected,
         Event::kAddressChange, "our own null echoed"},
        {"shippingaddresschange", R"("priority")", kPrioritySelected,
         Event::kAddressChange,
         "the earlier choice echoed: still an address change"},
        {"shippingaddresschange", R"("priority")", nullptr,
         Event::kOptionChange,
         "the reference's mislabelled example: no options echoed"},
        {"shippingaddresschange", R"("priority")", kNoneSelected,
         Event::kOptionChange, "an option nothing was selected for"},
        {"shippingaddresschange", R"("norush")", kPrioritySelected,
         Event::kOptionChange, "another option than the selected one"},
        {"shippingaddresschange", R"("priority")", R"("junk")",
         Event::kOptionChange, "a malformed list selects nothing"},
        {"shippingaddresschange", "7", kPrioritySelected,
         Event::kAddressChange, "a non-string option is no choice"},
        {"paymentcomplete", nullptr, nullptr, std::nullopt, "unknown"},
        {"ShippingAddressChange", nullptr, nullptr, std::nullopt,
         "case matters"},
    };
    for (const auto& c : cases) {
        auto d = echo(c.event, c.option, c.listed);
        EXPECT_EQ(classify_event(c.event, d), c.want) << c.why;
    }
}

TEST(EventRule, LastSelectedOptionIsTheOneThatCounts) {
    auto d = echo("shippingaddresschange", R"("b")",
                  R"([{"id":"a","selected":true},{"id":"b","selected":true}])");
    EXPECT_EQ(classify_event("shippingaddresschange", d),
              Event::kAddressChange);
    d = echo("shippingaddresschange", R"("a")",
             R"([{"id":"a","selected":true},{"id":"b","selected":true}])");
    EXPECT_EQ(classify_event("shippingaddresschange", d),
              Event::kOptionChange);
}

TEST(Echo, ReadsEventAndContext) {
    auto d = echo("shippingaddresschange", R"("priority")", kPrioritySelected);
    auto r = read_echo(d);
    ASSERT_TRUE(std::holds_alternative<Echo>(r));
    const Echo& e = std::get<Echo>(r);
    EXPECT_EQ(e.event, Event::kAddressChange);
    EXPECT_EQ(json::write(*e.product_context), R"({"invoiceId":"1"})");
    EXPECT_EQ(event_name(e.event), "shippingaddresschange");
    d = echo("teleport", nullptr);
    EXPECT_EQ(std::get<std::string>(read_echo(d)), "unknown event");
}

TEST(Echo, PayerChoiceAcceptsOurOwnNulls) {
    json::Document d;
    ASSERT_FALSE(json::parse(R"({"methodData":[{
        "supportedMethods":"https://pay.microsoft.com/microsoftpay",
        "data":{"productContext":{},"event":"shippingaddresschange"}}],
        "details":{"id":"1"},"shippingAddress":null,"shippingOption":null})",
                             d));
    Echo e = std::get<Echo>(read_echo(d));
    EXPECT_EQ(read_payer_choice(d, e), std::nullopt);
    EXPECT_EQ(e.shipping_address, nullptr);
    EXPECT_EQ(e.shipping_option, std::nullopt);
    EXPECT_EQ(e.details_id, "1");

    d = echo("shippingaddresschange", R"("priority")", kPrioritySelected);
    e = std::get<Echo>(read_echo(d));
    EXPECT_EQ(read_payer_choice(d, e), std::nullopt);
    ASSERT_NE(e.shipping_address, nullptr);
    EXPECT_EQ(e.shipping_option, "priority") << "the earlier choice";
}

TEST(Echo, PayerChoiceRefusesWhatWeNeverSent) {
    struct Case {
        const char* event;
        const char* option;
        const char* want;
    };
    const Case cases[] = {
        {"shippingaddresschange", "7",
         "shippingOption must be a string or null"},
        {"shippingoptionchange", "null",
         "shippingOption must be the chosen option's id on a "
         "shippingoptionchange"},
        {"shippingoptionchange", nullptr,
         "shippingOption must be the chosen option's id on a "
         "shippingoptionchange"},
    };
    for (const auto& c : cases) {
        auto d = echo(c.event, c.option);
        Echo e = std::get<Echo>(read_echo(d));
        EXPECT_EQ(read_payer_choice(d, e), std::string(c.want)) << c.event;
    }
    json::Document d;
    ASSERT_FALSE(json::parse(R"({"details":{"id":"1"},
        "shippingAddress":{"country":"USA"}})", d));
    Echo e;
    EXPECT_NE(read_payer_choice(d, e), std::nullopt);
    ASSERT_FALSE(json::parse(R"({"details":{"id":"1"}})", d));
    EXPECT_EQ(read_payer_choice(d, e), "shippingAddress is missing");
    ASSERT_FALSE(json::parse(R"({"shippingAddress":null})", d));
    EXPECT_EQ(read_payer_choice(d, e), "details.id must be a string");
}

}  // namespace
}  // namespace opay
