// The renderer test: opay card writes each format's card for a few
// invoices; each is checked (opay card --check), turned into the Adaptive
// Card a payer sees (opay card --view), parsed by Microsoft's adaptivecards
// SDK with no parse or validation event, rendered at 400 px in Chromium,
// and read back from the DOM: the merchant, the invoice number, each item
// and its amount, the total and the pay button are there, and no text is
// cut off. Usage: node test.js OPAY ROOT [keep]
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { execFileSync } = require("child_process");
const { openRenderer } = require("./render");

const [opay, root, keep] = process.argv.slice(2);
if (!opay || !root) {
  console.error("usage: node test.js OPAY ROOT");
  process.exit(2);
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "opay-card-"));
const ids = ["--merchant-id", "3f1e7c2a-0b8d-4e57-9c61-5d2a8f4b7e10",
             "--display-id", "5d1c2b3a-4e5f-4a6b-9c8d-7e6f5a4b3c2d",
             "--originator", "8a0f2c1e-6b3d-4f5a-9e7c-1d2b3a4c5e6f"];
const signing = ["--sign-key", path.join(root, "conf-examples/demo-only-key.pem"),
                 "--sign-kid", "demo-only", "--sender", "billing@contoso.com",
                 "--recipient", "patti@contoso.com"];

function invoice(o) {
  return {
    entity: {
      "@type": "Invoice", identifier: o.id, url: "https://contoso.com/i",
      broker: { "@type": "LocalBusiness", name: o.merchant },
      paymentDueDate: "2026-12-31T00:00:00", paymentStatus: o.status,
      totalPaymentDue: { "@type": "PriceSpecification", price: o.total,
                         priceCurrency: o.currency },
    },
    displayItems: o.items.map(([label, value]) => (
      { label, amount: { currency: o.currency, value } })),
    requestShipping: o.shipping,
  };
}

// What the payer must read, in plain text (the card escapes its markdown).
const cases = [
  { name: "demo", file: path.join(root, "conf-examples/invoices/12345.json"),
    merchant: "Contoso", id: "12345", total: "10.00 USD",
    items: [["Large Widget", "7.00 USD"], ["Small Widget", "3.00 USD"]],
    payable: true },
  { name: "long-and-markdown",
    json: invoice({
      id: "INV-2026-12-000000000000000000000000000000000000000000000000000000000000000001",
      merchant: "Contoso *Best* [Shop] #1 <b>&amp; _co_",
      status: "http://schema.org/PaymentDue", currency: "USD",
      total: "1234567.89", shipping: true,
      items: [["**Widget** `x` - [link](http://evil.example) 1. ~big~",
               "1234566.89"],
              ["An item whose label is long enough to need more than one " +
               "line on a card four hundred pixels wide", "1.00"]] }),
    merchant: "Contoso *Best* [Shop] #1 <b>&amp; _co_",
    id: "INV-2026-12-000000000000000000000000000000000000000000000000000000000000000001",
    total: "1234567.89 USD",
    items: [["**Widget** `x` - [link](http://evil.example) 1. ~big~",
             "1234566.89 USD"],
            ["An item whose label is long enough to need more than one " +
             "line on a card four hundred pixels wide", "1.00 USD"]],
    shipping: true, payable: true },
  { name: "paid",
    json: invoice({ id: "A-7", merchant: "Fabrikam", status: "PaymentComplete",
                    currency: "JPY", total: 2500, shipping: false,
                    items: [["Tea", "2500"]] }),
    merchant: "Fabrikam", id: "A-7", total: "2500 JPY",
    items: [["Tea", "2500 JPY"]], payable: false,
    status: "This invoice has already been paid." },
];
const formats = [["action-request", []], ["signed", signing],
                 ["adaptive-card", ["--format", "adaptive-card"]],
                 ["message-card", ["--format", "message-card"]]];

let failures = 0;
let count = 0;
function check(ok, what) {
  count++;
  if (!ok) {
    failures++;
    console.log(`not ok ${count} - ${what}`);
  } else {
    console.log(`ok ${count} - ${what}`);
  }
}

(async () => {
  const r = await openRenderer();
  for (const c of cases) {
    const file = c.file || path.join(dir, `${c.name}.json`);
    if (c.json) fs.writeFileSync(file, JSON.stringify(c.json));
    for (const [format, args] of formats) {
      const html = path.join(dir, `${c.name}-${format}.html`);
      const label = `${c.name} ${format}`;
      execFileSync(opay, ["card", ...ids, "--invoice", file, ...args,
                          "--out", html]);
      execFileSync(opay, ["card", "--check", html]);
      const json = execFileSync(opay, ["card", "--view", html]).toString();
      const out = await r.render(json, 400);
      check(out.events.length === 0,
            `${label}: parsed and validated without events ${out.events}`);
      check(out.version === "1.0", `${label}: Adaptive Card 1.0`);
      const shown = (t) => out.texts.some((s) => s.includes(t));
      for (const t of [c.merchant, c.id, c.total, ...c.items.flat()]) {
        check(shown(t), `${label}: shows "${t}"`);
      }
      // An ActionRequest has no field for it: its HTML body says it, and
      // the payment sheet asks for the address.
      if (c.shipping && format !== "action-request" && format !== "signed") {
        check(shown("Shipping: chosen at payment"), `${label}: shipping note`);
      }
      check(out.cut.length === 0,
            `${label}: nothing cut off at 400 px ${JSON.stringify(out.cut)}`);
      if (c.payable) {
        check(JSON.stringify(out.buttons) === '["Review and pay"]',
              `${label}: the pay button, whole ${out.allButtons}`);
        check(out.transactions.length === 1 &&
              out.transactions[0].merchantId === ids[1],
              `${label}: Action.Transaction with its initializationContext`);
      } else {
        check(out.allButtons.length === 0, `${label}: no pay button`);
        check(shown(c.status), `${label}: says "${c.status}"`);
      }
    }
  }
  await r.close();
  if (keep) {
    console.log(`# cards kept in ${dir}`);
  } else {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`1..${count}`);
  process.exit(failures ? 1 : 0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
