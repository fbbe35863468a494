// The card's e-mail as HTML: the card's <script> found in it, JSON made
// safe inside one, and the summary table for clients without the card.
#include "card_parts.h"

#include <cctype>

namespace opay::card_parts {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(
                            static_cast<unsigned char>(c)));
    return out;
}

// The value of attribute name in a start tag (lower-cased tag text).
std::string attribute(std::string_view tag, std::string_view name) {
    std::size_t at = 0;
    while ((at = tag.find(name, at)) != std::string_view::npos) {
        std::size_t i = at + name.size();
        bool starts = at > 0 && std::isspace(static_cast<unsigned char>(
                                    tag[at - 1]));
        while (i < tag.size() && tag[i] == ' ') ++i;
        if (!starts || i >= tag.size() || tag[i] != '=') {
            at += name.size();
            continue;
        }
        ++i;
        while (i < tag.size() && tag[i] == ' ') ++i;
        if (i < tag.size() && (tag[i] == '"' || tag[i] == '\'')) {
            char q = tag[i];
            auto end = tag.find(q, i + 1);
            if (end == std::string_view::npos) return {};
            return std::string(tag.substr(i + 1, end - i - 1));
        }
        auto end = tag.find_first_of(" >", i);
        return std::string(tag.substr(i, end - i));
    }
    return {};
}

std::string html_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '&': out += "&amp;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

}  // namespace

std::vector<Script> scripts(std::string_view html) {
    std::string low = lower(html);
    auto head_end = low.find("</head");
    std::vector<Script> out;
    std::size_t at = 0;
    while ((at = low.find("<script", at)) != std::string::npos) {
        auto tag_end = low.find('>', at);
        if (tag_end == std::string::npos) break;
        auto close = low.find("</script", tag_end);
        if (close == std::string::npos) break;
        std::string_view tag(low.data() + at, tag_end - at);
        out.push_back({attribute(tag, "type"),
                       html.substr(tag_end + 1, close - tag_end - 1),
                       head_end != std::string::npos && at < head_end});
        at = close;
    }
    return out;
}

// JSON that is safe inside <script>: "<" only occurs in strings, where
// \u003c means the same, so no "</script>" can end the block early.
std::string script_json(const json::Value& v) {
    std::string s = json::write(v);
    std::string out;
    for (char c : s) {
        if (c == '<') {
            out += "\\u003c";
        } else {
            out += c;
        }
    }
    return out;
}

// The e-mail body for clients without the card: the same summary as a
// table, and the invoice's page.
std::string html_summary(const CardSummary& s, const json::Value& entity) {
    auto row = [](std::string_view head, std::string_view value) {
        return "<tr><th align=\"left\">" + html_escape(head) +
               "</th><td align=\"right\">" + html_escape(value) +
               "</td></tr>\n";
    };
    std::string html = "<table>\n<caption>" + html_escape(s.merchant) +
                       "</caption>\n";
    html += row(kInvoiceTitle, s.number);
    if (!s.due_date.empty()) html += row(kDueTitle, s.due_date);
    if (!s.payable) html += row(kStatusTitle, s.status);
    for (const CardLine& l : s.items) {
        html += "<tr><td>" + html_escape(l.label) +
                "</td><td align=\"right\">" + html_escape(l.amount) +
                "</td></tr>\n";
    }
    if (s.shipping) {
        html += "<tr><td colspan=\"2\">" + html_escape(kShippingNote) +
                "</td></tr>\n";
    }
    html += row(kTotalTitle, s.total);
    html += "</table>\n";
    if (auto url = json::string_member(entity, "url")) {
        html += "<p><a href=\"" + html_escape(*url) + "\">" +
                (s.payable ? "Review and pay" : "View the invoice") +
                "</a></p>\n";
    }
    return html;
}

}  // namespace opay::card_parts
