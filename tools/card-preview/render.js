// Renders Adaptive Cards with Microsoft's adaptivecards SDK in headless
// Chromium (Debian's /usr/bin/chromium, driven by playwright-core).
"use strict";

const path = require("path");
const { chromium } = require("playwright-core");

const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

// One browser for every card: starting Chromium is most of the cost.
async function openRenderer() {
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 700, height: 900 } });
  await page.goto("file://" + path.join(__dirname, "page.html"));
  return {
    // What renderCard (page.js) reports for the card at this width.
    async render(json, width) {
      return page.evaluate(([j, w]) => window.renderCard(j, w), [json, width]);
    },
    // A PNG of the card as rendered last.
    async screenshot(file) {
      await page.locator("#card").screenshot({ path: file });
    },
    close: () => browser.close(),
  };
}

module.exports = { openRenderer };

// node render.js CARD.json OUTDIR [WIDTH...]: writes OUTDIR/card-WIDTH.png.
if (require.main === module) {
  (async () => {
    const [file, outDir, ...widths] = process.argv.slice(2);
    if (!file || !outDir) {
      console.error("usage: node render.js CARD.json OUTDIR [WIDTH...]");
      process.exit(2);
    }
    const json = require("fs").readFileSync(file, "utf8");
    const r = await openRenderer();
    let failed = false;
    for (const w of widths.length ? widths.map(Number) : [400, 600]) {
      const out = await r.render(json, w);
      for (const e of out.events) console.error(`${file}: ${e}`);
      for (const t of out.cut) console.error(`${file}: cut off at ${w} px: ${t}`);
      failed = failed || out.events.length > 0 || out.cut.length > 0;
      const png = path.join(outDir, `card-${w}.png`);
      await r.screenshot(png);
      console.log(png);
    }
    await r.close();
    process.exit(failed ? 1 : 0);
  })().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
